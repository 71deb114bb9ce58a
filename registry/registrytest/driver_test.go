package registrytest

import (
	"context"
	"io"
	"testing"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMemDriver(t *testing.T) {
	ctx := context.Background()
	d := newMemDriver()
	require.NoError(t, d.PutContent(ctx, "/a/b/c", []byte("abc")))
	require.NoError(t, d.PutContent(ctx, "/a/d", []byte("d")))

	// Writer: create, then reopen to append, as an upload over several PATCHes.
	w, err := d.Writer(ctx, "/up/data", false)
	require.NoError(t, err)
	_, err = w.Write([]byte("hello "))
	require.NoError(t, err)
	require.NoError(t, w.Close())
	w, err = d.Writer(ctx, "/up/data", true)
	require.NoError(t, err)
	assert.Equal(t, int64(6), w.Size(), "Size of a reopened writer")
	_, err = w.Write([]byte("world"))
	require.NoError(t, err)
	require.NoError(t, w.Commit(ctx))
	require.NoError(t, w.Close())

	got, err := d.GetContent(ctx, "/up/data")
	require.NoError(t, err)
	assert.Equal(t, "hello world", string(got), "GetContent after two writers")
	rc, err := d.Reader(ctx, "/up/data", 6)
	require.NoError(t, err)
	tail, err := io.ReadAll(rc)
	require.NoError(t, err)
	assert.Equal(t, "world", string(tail), "Reader at offset 6")
	_, err = d.Reader(ctx, "/up/data", 12)
	assert.ErrorAs(t, err, new(storagedriver.InvalidOffsetError), "Reader past the end")

	fi, err := d.Stat(ctx, "/a")
	require.NoError(t, err)
	assert.True(t, fi.IsDir(), "Stat(/a).IsDir")
	fi, err = d.Stat(ctx, "/a/b/c")
	require.NoError(t, err)
	assert.Equal(t, int64(3), fi.Size(), "Stat(/a/b/c).Size")
	_, err = d.Stat(ctx, "/a/b/c/x")
	assert.ErrorAs(t, err, new(storagedriver.PathNotFoundError), "Stat of a missing path")

	list, err := d.List(ctx, "/a")
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"/a/b", "/a/d"}, list, "List(/a)")
	list, err = d.List(ctx, "/")
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"/a", "/up"}, list, "List(/)")

	require.NoError(t, d.Move(ctx, "/a/b", "/moved"))
	got, err = d.GetContent(ctx, "/moved/c")
	require.NoError(t, err)
	assert.Equal(t, "abc", string(got), "GetContent after Move")
	_, err = d.Stat(ctx, "/a/b")
	assert.ErrorAs(t, err, new(storagedriver.PathNotFoundError), "Stat of a moved directory")
	assert.ErrorAs(t, d.Move(ctx, "/nope", "/x"), new(storagedriver.PathNotFoundError), "Move of a missing path")

	require.NoError(t, d.Delete(ctx, "/a"))
	_, err = d.List(ctx, "/a")
	assert.ErrorAs(t, err, new(storagedriver.PathNotFoundError), "List of a deleted directory")
	assert.ErrorAs(t, d.Delete(ctx, "/a"), new(storagedriver.PathNotFoundError), "Delete twice")

	w, err = d.Writer(ctx, "/up/cancelled", false)
	require.NoError(t, err)
	require.NoError(t, w.Cancel(ctx))
	_, err = d.Stat(ctx, "/up/cancelled")
	assert.ErrorAs(t, err, new(storagedriver.PathNotFoundError), "Stat of a cancelled file")
}
