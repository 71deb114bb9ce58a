package layer

import (
	"archive/tar"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/stevedore-dev/stevedore/internal/itest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSpoolCleanup: a spool file is never visible on disk (it is
// unlinked at once), its descriptor is closed once the layer and its
// readers are unreachable, a reader opened before keeps working, and
// descriptors do not grow with Compressed and Uncompressed calls.
func TestSpoolCleanup(t *testing.T) {
	tmp := t.TempDir()
	l, err := New(context.Background(), []Source{Files(goldenFiles)}, WithTempDir(tmp))
	require.NoError(t, err)
	before := itest.OpenFDs(t, tmp)
	rc, err := l.Compressed()
	require.NoError(t, err)
	spools, _ := filepath.Glob(filepath.Join(tmp, "*"))
	assert.Empty(t, spools, "files in the temp dir after a build")
	require.Equal(t, 0, before, "descriptors on the temp dir before the build")
	assert.Equal(t, 1, itest.OpenFDs(t, tmp), "descriptors after the build: one, for the spool")
	for range 50 {
		c, err := l.Compressed()
		require.NoError(t, err)
		_, err = io.Copy(io.Discard, c)
		require.NoError(t, err)
		require.NoError(t, c.Close())
		u, err := l.Uncompressed()
		require.NoError(t, err)
		_, err = io.Copy(io.Discard, u)
		require.NoError(t, err)
		require.NoError(t, u.Close())
	}
	assert.Equal(t, 1, itest.OpenFDs(t, tmp), "descriptors after 50 Compressed and Uncompressed calls")
	l = nil
	runtime.GC()
	n, err := io.Copy(io.Discard, rc)
	assert.NoError(t, err, "reading an open Compressed() after the layer is gone")
	assert.Positive(t, n, "bytes read after the layer is gone")
	rc.Close()
	rc = nil
	deadline := time.Now().Add(5 * time.Second)
	for itest.OpenFDs(t, tmp) > 0 && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	assert.Equal(t, 0, itest.OpenFDs(t, tmp), "descriptors once the layer and its readers are gone")
}

// TestURLStreamed: a 256 MiB download is never held in memory.
func TestURLStreamed(t *testing.T) {
	if testing.Short() {
		t.Skip("streams 256 MiB")
	}
	const size = 256 << 20
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tw := tar.NewWriter(w)
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "big", Size: size, Mode: 0o644})
		io.Copy(tw, &genFile{size: size})
		tw.Close()
	}))
	defer srv.Close()
	var l any
	peak := peakHeap(func() {
		v, err := New(context.Background(), []Source{URL(srv.URL + "/big.tar")}, WithTempDir(t.TempDir()))
		require.NoError(t, err)
		_, err = v.Digest()
		require.NoError(t, err, "Digest()")
		l = v
	})
	_ = l
	t.Logf("256 MiB download: peak heap growth %.1f MiB", float64(peak)/(1<<20))
	assert.LessOrEqual(t, peak>>20, uint64(32), "MiB the heap grew by downloading 256 MiB")
	srv.CloseClientConnections()
}
