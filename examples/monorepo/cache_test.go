package main

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/stevedore-dev/stevedore/examples/internal/exampletest"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

// TestCacheRepo: two machines share a layer cache (-cache-repo). Each run
// generates the demo monorepo afresh (new inodes and mtimes, as a fresh
// clone); machine B, with its own -cache, finds the service's layer in
// the cache repository and pushes the image to another repository
// without downloading or uploading it.
func TestCacheRepo(t *testing.T) {
	a, b := exampletest.TwoMachines(t, registrytest.New(t), run, "shop/api", nil)
	assert.Contains(t, a.Stderr, "stored in remote cache: stevedore: dir -> /app", "machine A's stderr")
	assert.Contains(t, b.Stderr, "remote cache hit: stevedore: dir -> /app", "machine B's stderr")
}
