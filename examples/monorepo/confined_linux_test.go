//go:build linux

package main

import (
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/examples/internal/exampletest"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

// TestOnlyTheService builds one service of a monorepo whose other services
// are booby-trapped, and proves with inotify that nothing outside
// services/NAME was opened or listed.
func TestOnlyTheService(t *testing.T) {
	repo := t.TempDir()
	require.NoError(t, writeDemo(repo))
	setTraps(t, repo)
	w := exampletest.Watch(t, outsideDirs(t, repo)...)
	w.Events(t) // the walk of outsideDirs

	srv := registrytest.New(t)
	cache := t.TempDir()
	args := []string{"-repo", repo, "-service", "api", "-target", srv.Ref("shop/api:v1"), "-cache", cache}
	r1 := exampletest.Run(t, run, args...)
	r2 := exampletest.Run(t, run, args...)

	// Opening services/api itself shows up as an event of services/ named
	// "api"; anything else is a look outside the service.
	allowed := filepath.Join(repo, "services", "api")
	for _, ev := range w.Events(t) {
		assert.Equal(t, allowed, ev, "a file or directory the build opened or read, outside services/api")
	}

	require.Equal(t, r1.Digest, r2.Digest, "digest of the second run")
	img := exampletest.Pull(t, r1.Ref)
	assert.Equal(t, []string{"/app/dist/api"}, exampletest.Config(t, img).Entrypoint, "Entrypoint")
	files := exampletest.Files(t, img)
	names := slices.Sorted(maps.Keys(files))
	want := []string{
		"/app", "/app/.dockerignore", "/app/config", "/app/config/api.yaml",
		"/app/dist", "/app/dist/api", "/app/src", "/app/src/main.go",
	}
	assert.Equal(t, want, names, "files in the image (services/api minus its .dockerignore)")
	assert.Equal(t, fs.FileMode(0o755), exampletest.Mode(files["/app/dist/api"]), "mode of /app/dist/api")
}

// setTraps sets traps in the services other than api, which a walk of the
// whole repository would trip on even without the watcher: a FIFO
// (opening it blocks), a symlink loop (stat fails with ELOOP), a symlink
// out of the tree, and a directory nobody may read (root ignores that
// one).
func setTraps(t *testing.T, repo string) {
	t.Helper()
	web := filepath.Join(repo, "services", "web")
	require.NoError(t, syscall.Mkfifo(filepath.Join(web, "trap.fifo"), 0o644))
	for link, target := range map[string]string{"loop": "loop", "escape": "/etc/shadow"} {
		require.NoError(t, os.Symlink(target, filepath.Join(web, link)))
	}
	locked := filepath.Join(repo, "services", "worker", "locked")
	require.NoError(t, os.Mkdir(locked, 0o000))
	t.Cleanup(func() { os.Chmod(locked, 0o755) })
}

// outsideDirs returns the directories a build of services/api has no
// business reading: the root, services/, and every directory of the
// other services and of libs/.
func outsideDirs(t *testing.T, repo string) []string {
	t.Helper()
	dirs := []string{repo, filepath.Join(repo, "services")}
	for _, top := range []string{filepath.Join(repo, "libs"), filepath.Join(repo, "services", "web"), filepath.Join(repo, "services", "worker")} {
		err := filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return err
		})
		require.NoError(t, err)
	}
	return dirs
}
