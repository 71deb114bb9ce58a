package gitfs_test

import (
	"context"
	"io/fs"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/gitfs"
	"github.com/stevedore-dev/stevedore/internal/gitfs/gittest"
)

func TestCloneAndFS(t *testing.T) {
	gitfs.ServeFileURLs()
	files := map[string]string{"README.md": "# r\n", "bin/run": "#!/bin/sh\n", "docs/a/b.txt": "b\n"}
	dir, commit := gittest.Repo(t, files, map[string]string{"link": "docs/a/b.txt"})
	for _, ref := range []string{"", "HEAD", "v1", "master", commit} {
		co, err := gitfs.Clone(context.Background(), "file://"+dir, ref)
		require.NoError(t, err, "Clone(%q)", ref)
		assert.Equal(t, commit, co.Commit, "Clone(%q).Commit", ref)
	}
	co, err := gitfs.Clone(context.Background(), dir, "")
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

	_, err = gitfs.Clone(context.Background(), "file://"+dir, "nope")
	assert.ErrorContains(t, err, "ref nope in file://"+dir, "Clone of an unknown ref")
	_, err = gitfs.Clone(context.Background(), "http://user:s3cret@127.0.0.1:1/x.git", "")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cret", "Clone error shows no password")
}

func TestCloneOverHTTP(t *testing.T) {
	dir, commit := gittest.Repo(t, map[string]string{"a/b.txt": "over http\n"}, nil)
	u := gittest.Serve(t, dir, "repo")
	co, err := gitfs.Clone(context.Background(), u, "v1")
	require.NoError(t, err, "Clone(%s)", u)
	assert.Equal(t, commit, co.Commit, "commit cloned over smart HTTP")
	b, err := fs.ReadFile(co.FS, "a/b.txt")
	require.NoError(t, err)
	assert.Equal(t, "over http\n", string(b), "file cloned over smart HTTP")
}
