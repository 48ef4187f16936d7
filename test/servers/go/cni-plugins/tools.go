// Package servers pins the module graph that builds the CNI plugins (bridge, host-local, loopback)
// of the one-node cluster for tests (test/harness/node/). It is never compiled into the product.
package servers
