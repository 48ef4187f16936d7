// Package servers pins the module graph that builds kube-apiserver, kube-controller-manager and kubectl for tests.
// It is never compiled into the product; see test/harness/servers.ts.
package servers
