package lazypull_test

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/lazypull"
	"github.com/stevedore-dev/stevedore/internal/tartest"
)

// oddReader returns at most n bytes per Read, to cut the input
// differently from a bytes.Reader.
type oddReader struct {
	r io.Reader
	n int
}

func (o oddReader) Read(p []byte) (int, error) { return o.r.Read(p[:min(len(p), o.n)]) }

// TestWriteReproducible builds each format with GOMAXPROCS 1, 2 and 8 and
// with the input read in odd-sized pieces: the bytes, TOC digest and
// diffID must not change.
func TestWriteReproducible(t *testing.T) {
	input := tartest.Bytes(t, fixture()...)
	for _, f := range formats {
		t.Run(f.String(), func(t *testing.T) {
			var blobs [][]byte
			var results []lazypull.Result
			for _, procs := range []int{1, 2, 8} {
				for _, chunk := range []int{len(input), 7777} {
					prev := runtime.GOMAXPROCS(procs)
					var buf bytes.Buffer
					res, err := lazypull.Write(context.Background(), &buf, oddReader{bytes.NewReader(input), chunk}, f,
						lazypull.WithTempDir(t.TempDir()), lazypull.WithPrioritizedFiles("app/hello"))
					runtime.GOMAXPROCS(prev)
					require.NoError(t, err, "GOMAXPROCS %d, reads of %d", procs, chunk)
					blobs, results = append(blobs, buf.Bytes()), append(results, res)
				}
			}
			for i := 1; i < len(blobs); i++ {
				assert.Equal(t, sha(blobs[0]), sha(blobs[i]), "blob digest of build %d", i)
				assert.Equal(t, results[0], results[i], "result of build %d", i)
			}
		})
	}
}

// TestWriteGolden pins the digests of a small fixture's blobs, so that a
// change of library or level that changes the output is seen.
func TestWriteGolden(t *testing.T) {
	input := tartest.Bytes(t, fixture()[:16]...)
	for _, tc := range []struct {
		f              lazypull.Format
		digest, diffID string
		tocDigest      string
	}{
		{lazypull.EStargz,
			"sha256:5fb8f6c44d0a1cd80549ec04b83d1e348f611a7113941e420fb156abf05df6f4",
			"sha256:8f31a29120b0476d47b46b17f5e1ac741a0d2e9a7ed67929451cc57d82bb33bb",
			"sha256:a60b9ce88d7f046888a4eb4394e518623e388f11fd0e567f70f455df3fae5d93"},
		{lazypull.ZstdChunked,
			"sha256:d07ca89462d1933fe9bff3f1b6eaf5ccf8ad47d5b435adc6ae65867e3468a5dc",
			"sha256:816a38bbf04a628072a2df5deeab1b47e267d80e227ee12e7cb90495f049036d",
			"sha256:1f83a254f7c1c16cbf284ea646ada9848006bfab5262d5d0184918cb594f4f3a"},
	} {
		blob, res := write(t, input, tc.f)
		assert.Equal(t, tc.digest, sha(blob).String(), "Write(%v) blob digest", tc.f)
		assert.Equal(t, tc.diffID, res.DiffID.String(), "Write(%v) DiffID", tc.f)
		assert.Equal(t, tc.tocDigest, res.TOCDigest.String(), "Write(%v) TOCDigest", tc.f)
	}
}
