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
	"github.com/stevedore-dev/stevedore/internal/tartest"
)

// testTar is a tar of every entry type a layer holds, whiteouts included.
func testTar(t *testing.T) []byte {
	t.Helper()
	return tartest.Bytes(t,
		tartest.Dir("app/"),
		tartest.Whiteout("app/old"),
		tartest.File("app/run", "#!/bin/sh\n").WithMode(0o4755).WithOwner(7, 8),
		tartest.File("app/empty", "").WithMode(0o600),
		tartest.Symlink("app/link", "../etc/x"),
		tartest.Hardlink("app/hard", "app/run").WithMode(0o4755),
		tartest.Dir("tmp/").WithMode(0o1777),
		tartest.Opaque("tmp"),
		tartest.Entry{Header: tar.Header{Typeflag: tar.TypeFifo, Name: "tmp/fifo", Mode: 0o600}},
	)
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
