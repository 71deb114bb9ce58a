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
	srv := registrytest.New(t)
	args := func(target string) []string {
		return []string{"-cache", t.TempDir(), "-cache-repo", srv.Ref("team/cache"), "-target", target, "-v"}
	}
	a := exampletest.Run(t, run, args(srv.Ref("shop/api:a"))...)
	assert.Contains(t, a.Stderr, "stored in remote cache: stevedore: dir -> /app", "machine A's stderr")

	srv.ResetStats()
	b := exampletest.Run(t, run, args(srv.Ref("shop/api-b:b"))...)
	st := srv.Stats()
	assert.Equal(t, a.Digest, b.Digest, "machine B's digest")
	assert.Contains(t, b.Stderr, "remote cache hit: stevedore: dir -> /app", "machine B's stderr")
	exampletest.CheckSharedCache(t, st, b.Ref)
}
