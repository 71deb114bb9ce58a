package lazypull_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"sync/atomic"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/lazypull"
	"github.com/stevedore-dev/stevedore/internal/tartest"
)

// countingReaderAt counts the bytes read through it.
type countingReaderAt struct {
	r io.ReaderAt
	n atomic.Int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n.Add(int64(n))
	return n, err
}

// TestReadTOC reads the TOC of the blobs Write builds: the entries are the
// tar's, the digest is the Result's, and only the end of the blob is read.
func TestReadTOC(t *testing.T) {
	files := fixture()
	input := tartest.Bytes(t, files...)
	for _, f := range formats {
		t.Run(f.String(), func(t *testing.T) {
			blob, res := write(t, input, f)
			want, _ := tarEntries(t, bytes.NewReader(input))
			want = append([]lazypull.Entry{{Name: lazypull.NoPrefetchLandmark, Typeflag: '0', Size: 1, Digest: sha([]byte{0xf})}}, want...)

			cr := &countingReaderAt{r: bytes.NewReader(blob)}
			toc, err := lazypull.ReadTOC(cr, int64(len(blob)))
			require.NoError(t, err)
			assert.Equal(t, f, toc.Format, "Format")
			assert.Equal(t, res.TOCDigest, toc.Digest, "Digest")
			assert.Equal(t, want, toc.Entries, "Entries")
			assert.Less(t, cr.n.Load(), int64(len(blob)/10), "ReadTOC read %d of %d bytes", cr.n.Load(), len(blob))
			assert.NoError(t, toc.Verify(res.Annotations), "Verify(own annotations)")
			assert.ErrorIs(t, toc.Verify(map[string]string{lazypull.AnnotationTOCDigest: sha(nil).String()}), lazypull.ErrTOCDigest)
			assert.ErrorIs(t, toc.Verify(nil), lazypull.ErrTOCDigest)

			tarball, _ := tarEntries(t, bytes.NewReader(decompress(t, f, blob)))
			assert.Equal(t, tarball, toc.TarEntries(), "TarEntries() = the decompressed tar's entries")
		})
	}
}

// TestReadTOCNotLazy rejects blobs of neither format, truncated blobs
// included.
func TestReadTOCNotLazy(t *testing.T) {
	input := tartest.Bytes(t, fixture()[:3]...)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, err := zw.Write(input)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	zst, err := zstd.NewWriter(nil)
	require.NoError(t, err)
	esgz, _ := write(t, input, lazypull.EStargz)
	zchunked, _ := write(t, input, lazypull.ZstdChunked)
	for _, tc := range []struct {
		name string
		blob []byte
	}{
		{"empty", nil},
		{"tiny", []byte("x")},
		{"tar", input},
		{"gzip", gz.Bytes()},
		{"zstd", zst.EncodeAll(input, nil)},
		{"estargz without its last byte", esgz[:len(esgz)-1]},
		{"zstd:chunked without its last byte", zchunked[:len(zchunked)-1]},
		{"estargz without its first half", esgz[len(esgz)/2:]},
		// The library's footer parser panics on this one.
		{"gzip footer with a short STARGZ field", append([]byte{0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 0xff, 8, 0,
			'S', 'G', 22, 0, '0', '0', '0', '0'}, bytes.Repeat([]byte{0}, 31)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			toc, err := lazypull.ReadTOC(bytes.NewReader(tc.blob), int64(len(tc.blob)))
			assert.ErrorIs(t, err, lazypull.ErrNoTOC, "ReadTOC(%s) = %v", tc.name, toc)
		})
	}
}

// FuzzReadTOC feeds ReadTOC arbitrary blobs and blobs of both formats
// with bytes changed: it must return a TOC or an error, never panic, and
// an error must be one of the package's.
func FuzzReadTOC(f *testing.F) {
	input := tartest.Bytes(f, fixture()[:3]...)
	for _, fm := range formats {
		blob, _ := write(f, input, fm)
		f.Add(blob, uint16(0), byte(0))
		f.Add(blob, uint16(60), byte(1))
		f.Add(blob, uint16(200), byte(0xff))
	}
	f.Add([]byte("not a blob"), uint16(0), byte(0))
	f.Fuzz(func(t *testing.T, blob []byte, fromEnd uint16, xor byte) {
		if i := len(blob) - 1 - int(fromEnd); i >= 0 {
			blob = bytes.Clone(blob)
			blob[i] ^= xor
		}
		toc, err := lazypull.ReadTOC(bytes.NewReader(blob), int64(len(blob)))
		if err != nil {
			if !errors.Is(err, lazypull.ErrTOCTooLarge) {
				assert.ErrorIs(t, err, lazypull.ErrNoTOC)
			}
			return
		}
		assert.NotEmpty(t, toc.Digest.Hex)
	})
}
