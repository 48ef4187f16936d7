// Package servers pins the module graph that builds nats-server for local mode and the tests.
// It is never compiled into the images; see local-servers/server-binary.ts.
package servers
