package gitfs

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// makeRepo creates a repository in a temp dir with the files (content
// starting with "#!" makes an executable) and links, one commit, tagged
// v1, and returns its path and the commit hash.
func makeRepo(t *testing.T, files, links map[string]string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	require.NoError(t, err)
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		mode := os.FileMode(0o644)
		if len(content) > 2 && content[:2] == "#!" {
			mode = 0o755
		}
		require.NoError(t, os.WriteFile(p, []byte(content), mode))
		require.NoError(t, os.Chmod(p, mode))
	}
	for name, target := range links {
		require.NoError(t, os.Symlink(target, filepath.Join(dir, filepath.FromSlash(name))))
	}
	wt, err := repo.Worktree()
	require.NoError(t, err)
	require.NoError(t, wt.AddGlob("."))
	sig := &object.Signature{Name: "t", Email: "t@example.com", When: time.Unix(1700000000, 0)}
	h, err := wt.Commit("one", &git.CommitOptions{Author: sig, Committer: sig})
	require.NoError(t, err)
	_, err = repo.CreateTag("v1", h, nil)
	require.NoError(t, err)
	return dir, h.String()
}

func TestCloneAndFS(t *testing.T) {
	ServeFileURLs()
	files := map[string]string{"README.md": "# r\n", "bin/run": "#!/bin/sh\n", "docs/a/b.txt": "b\n"}
	dir, commit := makeRepo(t, files, map[string]string{"link": "docs/a/b.txt"})
	for _, ref := range []string{"", "HEAD", "v1", "master", commit} {
		co, err := Clone(context.Background(), "file://"+dir, ref)
		require.NoError(t, err, "Clone(%q)", ref)
		assert.Equal(t, commit, co.Commit, "Clone(%q).Commit", ref)
	}
	co, err := Clone(context.Background(), dir, "")
	require.NoError(t, err, "Clone of a local path")
	require.NoError(t, fstest.TestFS(co.FS, "README.md", "bin/run", "docs/a/b.txt"))
	fi, err := fs.Lstat(co.FS, "bin/run")
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o755), fi.Mode(), "mode of an executable")
	target, err := fs.ReadLink(co.FS, "link")
	require.NoError(t, err)
	assert.Equal(t, "docs/a/b.txt", target, "ReadLink(link)")
	b, err := fs.ReadFile(co.FS, "link")
	require.NoError(t, err)
	assert.Equal(t, "b\n", string(b), "Open follows a symlink inside the tree")

	_, err = Clone(context.Background(), "file://"+dir, "nope")
	assert.ErrorContains(t, err, "ref nope in file://"+dir, "Clone of an unknown ref")
	_, err = Clone(context.Background(), "http://user:s3cret@127.0.0.1:1/x.git", "")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cret", "Clone error shows no password")
}
