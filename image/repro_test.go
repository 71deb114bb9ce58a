package image

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/layer"
)

// buildFromDir builds the same image from a copy of the same files placed
// in a fresh temp dir (and working directory), with a fresh layer cache and its own host mtimes.
func buildFromDir(t *testing.T, base v1.Image, mtime time.Time) v1.Image {
	t.Helper()
	// The same inputs include the directory argument: the layer's history
	// names it ("stevedore: dir src -> /app"), so an absolute temp path
	// would differ between the builds. Each build runs in its own fresh
	// temp dir and names it "src".
	t.Chdir(t.TempDir())
	src := "src"
	files := map[string]string{"bin/app": "#!/bin/sh\necho app\n", "etc/app.conf": "a=1\n", "README": "readme\n"}
	for name, body := range files {
		p := filepath.Join(src, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(body), 0o755))
		require.NoError(t, os.Chtimes(p, mtime, mtime))
	}
	l, err := layer.FromDir(src, layer.WithRoot("/app"), layer.WithCache(t.TempDir()))
	require.NoError(t, err)
	return mustBuild(t, base, WithLayers(l), WithWorkDir("/app"), WithEntrypoint("/app/bin/app"),
		WithEnv("MODE", "prod"), WithPathPrepend("/app/bin"), WithLabel("l", "v"), WithConfigHistory())
}

// TestReproducible builds the same inputs twice (different temp dirs,
// fresh caches, different host mtimes) and gets the same digest, for each
// kind of base and from scratch.
func TestReproducible(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "")
	bases := append(testBases(t), testBase{"scratch", nil})
	for _, b := range bases {
		t.Run(b.name, func(t *testing.T) {
			one := buildFromDir(t, b.img, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
			two := buildFromDir(t, b.img, time.Now())
			r1, err := one.RawConfigFile()
			require.NoError(t, err)
			r2, err := two.RawConfigFile()
			require.NoError(t, err)
			assert.Equal(t, digestOf(t, one), digestOf(t, two), "digest of the same inputs built again\nconfig 1: %s\nconfig 2: %s", r1, r2)
		})
	}
}
