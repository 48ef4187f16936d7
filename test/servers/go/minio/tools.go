// Package servers pins the module graph that builds minio for tests.
// It is never compiled into the product; see test/harness/servers.ts.
package servers
