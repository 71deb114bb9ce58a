package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/examples/internal/exampletest"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

// TestCacheRepo: two machines share a layer cache (-cache-repo). Machine
// B, with its own -cache and a fresh copy of the Go and ko tarballs (new
// inodes and mtimes, not verified with -go-sha256), builds the same image
// and pushes it to another repository without downloading or uploading a
// layer blob.
func TestCacheRepo(t *testing.T) {
	srv := registrytest.New(t)
	_, err := srv.SeedImage(context.Background(), "library/base:1")
	require.NoError(t, err)
	goTar, _ := exampletest.TarGz(t, map[string]string{"go/VERSION": "go1.99.0\n", "go/bin/go": "#!/bin/sh\n"})
	koTar, _ := exampletest.TarGz(t, map[string]string{"ko": "#!/bin/sh\necho ko\n"}, "ko")
	// Each machine has its own copy of the tarballs, B's with another mtime.
	mtimes := map[string]time.Time{"a": time.Unix(1_700_000_000, 0), "b": time.Now().Add(time.Hour)}
	machine := func(name string) []string {
		dir := t.TempDir()
		goPath, koPath := filepath.Join(dir, "go.tar.gz"), filepath.Join(dir, "ko.tar.gz")
		for p, data := range map[string][]byte{goPath: goTar, koPath: koTar} {
			require.NoError(t, os.WriteFile(p, data, 0o644))
			require.NoError(t, os.Chtimes(p, mtimes[name], mtimes[name]))
		}
		return []string{"-base", srv.Ref("library/base:1"), "-go-url", goPath, "-ko-url", koPath}
	}

	a, b := exampletest.TwoMachines(t, srv, run, "team/toolchain", machine)
	assert.Contains(t, a.Stderr, "stored in remote cache: stevedore: tarball -> /usr/local", "machine A's stderr")
	assert.Contains(t, b.Stderr, "remote cache hit: stevedore: tarball -> /usr/local", "machine B's stderr")
	assert.NotContains(t, b.Stderr, "warning", "machine B's stderr")
}

// TestCacheRepoUnreachable: a cache repository that does not answer is a
// warning, not an error.
func TestCacheRepoUnreachable(t *testing.T) {
	down := registrytest.New(t)
	down.Close()
	goTar, _ := exampletest.TarGz(t, map[string]string{"go/VERSION": "go1.99.0\n"})
	goPath := filepath.Join(t.TempDir(), "go.tar.gz")
	require.NoError(t, os.WriteFile(goPath, goTar, 0o644))
	out := filepath.Join(t.TempDir(), "tc.oci.tar")
	r := exampletest.Run(t, run, "-go-url", goPath, "-cache", t.TempDir(), "-cache-repo", down.Ref("team/cache"), "-o", out)
	assert.Contains(t, r.Stderr, "warning: remote cache failed: stevedore: tarball -> /usr/local", "stderr without -v")
	exampletest.OpenTarball(t, out, "latest", r.Digest)
}
