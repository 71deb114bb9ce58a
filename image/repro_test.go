package image

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

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
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	l, err := layer.FromDir(src, layer.WithRoot("/app"), layer.WithCache(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
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
			if d1, d2 := digestOf(t, one), digestOf(t, two); d1 != d2 {
				r1, _ := one.RawConfigFile()
				r2, _ := two.RawConfigFile()
				t.Errorf("same inputs, digests %s and %s\nconfig 1: %s\nconfig 2: %s", d1, d2, r1, r2)
			}
		})
	}
}
