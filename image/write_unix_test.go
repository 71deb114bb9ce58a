//go:build unix

package image

import (
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWriteThroughLinksAndPipes: a tarball written to a symlink replaces
// the file the link names and keeps the link; one written to a pipe (as
// to /dev/stdout, `-o /dev/stdout`) goes into the pipe, which stays a
// pipe: renaming a temp file over it would replace it with a file.
func TestWriteThroughLinksAndPipes(t *testing.T) {
	img := testImage(t, 7)
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain.tar")
	require.NoError(t, WriteOCITarball(t.Context(), plain, img))
	want, err := os.ReadFile(plain)
	require.NoError(t, err)

	target, link := filepath.Join(dir, "target.tar"), filepath.Join(dir, "link.tar")
	require.NoError(t, os.WriteFile(target, []byte("old"), 0o644))
	require.NoError(t, os.Symlink("target.tar", link))
	require.NoError(t, WriteOCITarball(t.Context(), link, img))
	fi, err := os.Lstat(link)
	require.NoError(t, err)
	assert.Equal(t, os.ModeSymlink, fi.Mode().Type(), "WriteOCITarball(link) keeps the link")
	got, err := os.ReadFile(target)
	require.NoError(t, err)
	assert.Equal(t, want, got, "WriteOCITarball(link) writes the link's target")

	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	// A writer held by the test, so that opening the reading end does not
	// wait for one, and the reader sees the end once it is closed.
	hold, err := os.OpenFile(fifo, os.O_RDWR, 0)
	require.NoError(t, err)
	r, err := os.Open(fifo)
	require.NoError(t, err)
	defer r.Close()
	read := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(r)
		read <- b
	}()
	err = WriteOCITarball(t.Context(), fifo, img)
	hold.Close()
	require.NoError(t, err)
	assert.Equal(t, want, <-read, "WriteOCITarball(fifo) writes into the pipe")
	fi, err = os.Lstat(fifo)
	require.NoError(t, err)
	assert.Equal(t, os.ModeNamedPipe, fi.Mode().Type(), "WriteOCITarball(fifo) leaves the pipe a pipe")

	assert.ErrorContains(t, WriteDockerTarball(t.Context(), dir, "example.com/x:1", img), "is a directory")
}
