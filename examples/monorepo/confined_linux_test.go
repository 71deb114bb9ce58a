//go:build linux

package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"syscall"
	"testing"

	"github.com/stevedore-dev/stevedore/examples/internal/exampletest"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

// TestOnlyTheService builds one service of a monorepo whose other services
// are booby-trapped, and proves with inotify that nothing outside
// services/NAME was opened or listed.
func TestOnlyTheService(t *testing.T) {
	repo := t.TempDir()
	if err := writeDemo(repo); err != nil {
		t.Fatal(err)
	}
	// Traps in the siblings, which a walk of the whole repository would
	// trip on even without the watcher: a FIFO (opening it blocks), a
	// symlink loop (stat fails with ELOOP), a symlink out of the tree, and
	// a directory nobody may read (root ignores that one).
	web := filepath.Join(repo, "services", "web")
	if err := syscall.Mkfifo(filepath.Join(web, "trap.fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"loop": "loop", "escape": "/etc/shadow"} {
		if err := os.Symlink(target, filepath.Join(web, link)); err != nil {
			t.Fatal(err)
		}
	}
	locked := filepath.Join(repo, "services", "worker", "locked")
	if err := os.Mkdir(locked, 0o000); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(locked, 0o755) })

	// Watch the root, services/ and every directory of the other services
	// and of libs/.
	dirs := []string{repo, filepath.Join(repo, "services")}
	for _, top := range []string{filepath.Join(repo, "libs"), web, filepath.Join(repo, "services", "worker")} {
		err := filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	w := exampletest.Watch(t, dirs...)
	w.Events(t) // the walk above

	srv := registrytest.New(t)
	cache := t.TempDir()
	args := []string{"-repo", repo, "-service", "api", "-target", srv.Ref("shop/api:v1"), "-cache", cache}
	r1 := exampletest.Run(t, run, args...)
	r2 := exampletest.Run(t, run, args...)

	// Opening services/api itself shows up as an event of services/ named
	// "api"; anything else is a look outside the service.
	allowed := filepath.Join(repo, "services", "api")
	for _, ev := range w.Events(t) {
		if ev != allowed {
			t.Errorf("the build opened or read %s, outside services/api", ev)
		}
	}

	if r1.Digest != r2.Digest {
		t.Fatalf("run twice: digests %s and %s, want the same", r1.Digest, r2.Digest)
	}
	img := exampletest.Pull(t, r1.Ref)
	cfg := exampletest.Config(t, img)
	if want := []string{"/app/dist/api"}; !slices.Equal(cfg.Entrypoint, want) {
		t.Errorf("Entrypoint = %q, want %q", cfg.Entrypoint, want)
	}
	files := exampletest.Files(t, img)
	var names []string
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	want := []string{
		"/app", "/app/.dockerignore", "/app/config", "/app/config/api.yaml",
		"/app/dist", "/app/dist/api", "/app/src", "/app/src/main.go",
	}
	if !slices.Equal(names, want) {
		t.Errorf("files in the image = %q, want %q (services/api minus its .dockerignore)", names, want)
	}
	if m := exampletest.Mode(files["/app/dist/api"]); m != 0o755 {
		t.Errorf("mode of /app/dist/api = %v, want -rwxr-xr-x", m)
	}
}
