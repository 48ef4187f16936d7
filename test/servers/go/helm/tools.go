// Package servers pins the module graph that builds helm for tests.
// It is never compiled into the product; see test/harness/servers.ts.
package servers
