package fstree_test

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/fstree"
	"github.com/stevedore-dev/stevedore/internal/lazypull"
)

// testTar is a tar of every entry type a layer holds, whiteouts included.
func testTar(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range []struct {
		h    tar.Header
		body string
	}{
		{tar.Header{Typeflag: tar.TypeDir, Name: "app/", Mode: 0o755}, ""},
		{tar.Header{Typeflag: tar.TypeReg, Name: "app/.wh.old", Mode: 0o644}, ""},
		{tar.Header{Typeflag: tar.TypeReg, Name: "app/run", Mode: 0o4755, Uid: 7, Gid: 8}, "#!/bin/sh\n"},
		{tar.Header{Typeflag: tar.TypeReg, Name: "app/empty", Mode: 0o600}, ""},
		{tar.Header{Typeflag: tar.TypeSymlink, Name: "app/link", Linkname: "../etc/x", Mode: 0o777}, ""},
		{tar.Header{Typeflag: tar.TypeLink, Name: "app/hard", Linkname: "app/run", Mode: 0o4755}, ""},
		{tar.Header{Typeflag: tar.TypeDir, Name: "tmp/", Mode: 0o1777}, ""},
		{tar.Header{Typeflag: tar.TypeReg, Name: "tmp/.wh..wh..opq", Mode: 0o644}, ""},
		{tar.Header{Typeflag: tar.TypeFifo, Name: "tmp/fifo", Mode: 0o600}, ""},
	} {
		h := e.h
		h.Size = int64(len(e.body))
		require.NoError(t, tw.WriteHeader(&h))
		_, err := tw.Write([]byte(e.body))
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	return buf.Bytes()
}

// TestIndexTOC: the index read from a blob's TOC is the index of the tar
// the blob decompresses to, for both formats, with and without
// prioritized files; a TOC that the annotations do not name, or a blob of
// neither format, is refused.
func TestIndexTOC(t *testing.T) {
	input := testTar(t)
	for _, f := range []lazypull.Format{lazypull.EStargz, lazypull.ZstdChunked} {
		for _, prio := range [][]string{nil, {"app/hard"}} {
			var blob bytes.Buffer
			res, err := lazypull.Write(context.Background(), &blob, bytes.NewReader(input), f,
				lazypull.WithTempDir(t.TempDir()), lazypull.WithPrioritizedFiles(prio...))
			require.NoError(t, err)
			ra := bytes.NewReader(blob.Bytes())

			want, err := fstree.Index(context.Background(), decompress(t, f, blob.Bytes()))
			require.NoError(t, err)
			got, err := fstree.IndexTOC(ra, int64(blob.Len()), res.Annotations)
			require.NoError(t, err)
			assert.Equal(t, want, got, "IndexTOC(%v, prioritized %q) = Index(decompressed blob)", f, prio)

			other := map[string]string{lazypull.AnnotationTOCDigest: res.InputDigest.String()}
			_, err = fstree.IndexTOC(ra, int64(blob.Len()), other)
			assert.ErrorIs(t, err, lazypull.ErrTOCDigest, "IndexTOC(%v) with another TOC digest", f)
		}
	}
	_, err := fstree.IndexTOC(bytes.NewReader(input), int64(len(input)), nil)
	assert.ErrorIs(t, err, lazypull.ErrNoTOC, "IndexTOC(a plain tar)")
}

func decompress(t *testing.T, f lazypull.Format, blob []byte) io.Reader {
	t.Helper()
	if f == lazypull.EStargz {
		zr, err := gzip.NewReader(bytes.NewReader(blob))
		require.NoError(t, err)
		return zr
	}
	zr, err := zstd.NewReader(bytes.NewReader(blob))
	require.NoError(t, err)
	t.Cleanup(zr.Close)
	return zr
}
