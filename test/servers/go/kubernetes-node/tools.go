// Package servers pins the module graph that builds the one-node cluster's kubelet and kube-scheduler for tests
// (test/harness/node/). A module of its own, so the node's dependencies never move the API server's.
// It is never compiled into the product.
package servers
