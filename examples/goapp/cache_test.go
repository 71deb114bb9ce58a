package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/stevedore-dev/stevedore/examples/internal/exampletest"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

// TestCacheRepo: two machines share a layer cache (-cache-repo). Machine
// B, with its own -cache, builds the same binaries (go build -trimpath is
// reproducible), finds their layers in the cache repository, and pushes
// the index to another repository without downloading or uploading a
// layer blob.
func TestCacheRepo(t *testing.T) {
	a, b := exampletest.TwoMachines(t, registrytest.New(t), run, "team/hello", func(string) []string {
		return []string{"-platforms", "linux/amd64,linux/arm64"}
	})
	assert.Equal(t, 2, strings.Count(a.Stderr, "stored in remote cache: stevedore: files 1 -> /"), "machine A's stderr:\n%s", a.Stderr)
	assert.Equal(t, 2, strings.Count(b.Stderr, "remote cache hit: stevedore: files 1 -> /"), "machine B's stderr:\n%s", b.Stderr)
}
