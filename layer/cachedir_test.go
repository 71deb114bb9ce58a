package layer

import (
	"io"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCacheDirRemovedIsRebuilt: a layer served from the cache whose whole
// cache directory is removed before its blob is read still serves the
// bytes of the digest it reported: from the blob it holds open where an
// open file can be removed (Unix), else built again into a cache made
// afresh.
func TestCacheDirRemovedIsRebuilt(t *testing.T) {
	cacheDir := t.TempDir()
	files := []File{{Path: "/a", Data: []byte("a")}}
	first, err := FromFiles(files, WithCache(cacheDir))
	require.NoError(t, err)
	want, err := first.Digest()
	require.NoError(t, err)

	hit, err := FromFiles(files, WithCache(cacheDir))
	require.NoError(t, err)
	require.NoError(t, hit.(Computable).Compute(t.Context()))
	require.True(t, hit.(Cached).CacheHit(), "the second layer is a cache hit")
	require.NoError(t, os.RemoveAll(cacheDir))

	rc, err := hit.Compressed()
	require.NoError(t, err, "Compressed after the cache directory was removed")
	defer rc.Close()
	_, err = io.Copy(io.Discard, rc)
	require.NoError(t, err)
	got, err := hit.Digest()
	require.NoError(t, err)
	assert.Equal(t, want, got)
	check(t, hit)
	if !unlinkOpenFiles {
		_, err = os.Stat(cacheDir)
		assert.NoError(t, err, "the cache directory is made again by the rebuild")
	}
}
