package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/examples/internal/exampletest"
	"github.com/stevedore-dev/stevedore/internal/itest"
	"github.com/stevedore-dev/stevedore/registry"
)

// TestIntegrationCacheRepo runs the toolchain example on two machines
// sharing a layer cache in a real Docker Distribution registry with
// htpasswd auth (credentials from a docker config.json). Machine A builds
// from the local Go installation and pushes; machine B has a fresh cache
// directory and a fresh copy of the Go installation (new inodes and
// mtimes), gets the same digest, and pushes to another repository
// uploading no layer blob: every layer is mounted, from the base's
// repository or from the cache repository. A proxy in front of the
// registry counts the uploads and downloads.
func TestIntegrationCacheRepo(t *testing.T) {
	itest.Require(t, "docker-registry", "cp")
	const user, password = "cache-ci", "correct-horse-battery"
	d := itest.StartDistribution(t, user, password, nil, nil)
	p := itest.StartProxy(t, d.Host)
	exampletest.DockerConfig(t, p.Host, user, password)

	// A base in the registry, so both machines' pushes can mount its layers.
	goroot, _, _, err := goEnv(context.Background())
	require.NoError(t, err)
	platform := "linux/amd64"
	if out, err := exec.Command("go", "env", "GOARCH").Output(); err == nil {
		platform = "linux/" + strings.TrimSpace(string(out))
	}
	require.NoError(t, pushMinimalBase(context.Background(), p.Ref("stevedore/base:1"), platform))
	args := func(target string) []string {
		return []string{"-base", p.Ref("stevedore/base:1"), "-cache", t.TempDir(),
			"-cache-repo", p.Ref("stevedore/cache"), "-target", target, "-v"}
	}

	a := exampletest.Run(t, run, args(p.Ref("stevedore/toolchain:a"))...)
	assert.Contains(t, a.Stderr, "stored in remote cache: stevedore: dir -> /usr/local/go", "machine A's stderr")

	// Machine B: a fresh copy of the Go installation, found by PATH.
	copyRoot := filepath.Join(t.TempDir(), "go")
	itest.Run(t, "cp", "-R", "--preserve=mode", goroot, copyRoot)
	t.Setenv("PATH", filepath.Join(copyRoot, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("GOROOT", "")
	copied, _, _, err := goEnv(context.Background())
	require.NoError(t, err)
	require.Equal(t, copyRoot, copied, "GOROOT of the copy's go command")

	p.Reset()
	b := exampletest.Run(t, run, args(p.Ref("stevedore/toolchain-b:b"))...)
	st := p.Stats()
	assert.Equal(t, a.Digest, b.Digest, "machine B's digest")
	assert.Contains(t, b.Stderr, "remote cache hit: stevedore: dir -> /usr/local/go", "machine B's stderr")
	assert.NotContains(t, b.Stderr, "warning", "machine B's stderr")

	img := exampletest.Pull(t, b.Ref, registry.WithBasicAuth(user, password))
	cfgDigest, err := img.ConfigName()
	require.NoError(t, err)
	want := map[string]int{cfgDigest.String(): 1}
	attached := exampletest.AttachedBlobs(t, b.Ref, registry.WithBasicAuth(user, password))
	assert.Len(t, attached, 3, "blobs of the SBOM and provenance: two payloads and the empty config")
	for h := range attached {
		want[h.String()] = 1
	}
	assert.Equal(t, want, st.Uploads, "blobs uploaded by machine B (the config and the attached artifacts' only)")
	layers, err := img.Layers()
	require.NoError(t, err)
	assert.Equal(t, len(layers), st.Mounts, "layers mounted by machine B's push")
	for _, l := range layers {
		h, err := l.Digest()
		require.NoError(t, err)
		assert.Zero(t, st.Downloads[h.String()], "downloads of layer %s by machine B", h)
	}
}
