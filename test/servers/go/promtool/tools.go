// Package servers pins the module graph that builds promtool for tests.
// It is never compiled into the product; see test/harness/catalog.ts.
package servers
