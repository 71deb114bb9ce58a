package lazypull_test

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"io"
	"strconv"
	"testing"

	"github.com/containerd/stargz-snapshotter/estargz"
	"github.com/containerd/stargz-snapshotter/estargz/zstdchunked"
	digest "github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/lazypull"
	"github.com/stevedore-dev/stevedore/internal/tartest"
)

// TestWrite builds each format from the fixture, with and without
// prioritized files, and checks the blob with the library's reader and
// verifier, with plain gzip/zstd readers, and against the Result.
func TestWrite(t *testing.T) {
	files := fixture()
	input := tartest.Bytes(t, files...)
	want := entriesOfFiles(files)
	for _, f := range formats {
		for _, tc := range []struct {
			name        string
			prioritized []string
			// first are the entries expected before the landmark.
			first    []string
			landmark string
		}{
			{"plain", nil, nil, lazypull.NoPrefetchLandmark},
			{"prioritized", []string{"/home/dev/notes", "app/hard"},
				[]string{"home", "home/dev", "home/dev/notes", "app", "app/hello", "app/hard"}, lazypull.PrefetchLandmark},
		} {
			t.Run(f.String()+"/"+tc.name, func(t *testing.T) {
				blob, res := write(t, input, f, lazypull.WithPrioritizedFiles(tc.prioritized...))
				tarball := decompress(t, f, blob)

				assert.Equal(t, sha(input), res.InputDigest, "InputDigest")
				assert.Equal(t, int64(len(input)), res.InputSize, "InputSize")
				assert.Equal(t, int64(len(blob)), res.Size, "Size")
				assert.Equal(t, sha(tarball), res.DiffID, "DiffID = sha256 of the decompressed blob")
				assert.NotEqual(t, res.InputDigest, res.DiffID, "the format rewrites the tar")
				assert.Equal(t, int64(len(tarball)), res.UncompressedSize, "UncompressedSize")
				assert.Empty(t, res.MissingPrioritized)

				got, contents := tarEntries(t, bytes.NewReader(tarball))
				got = checkFormatFiles(t, f, got, tc.first, tc.landmark)
				assert.ElementsMatch(t, want, got, "decompressed tar's entries = input's")
				if tc.prioritized == nil {
					assert.Equal(t, want, got, "order kept without prioritized files")
				}

				tocDigest := verifyWithLibrary(t, f, blob, tarball, contents)
				assert.Equal(t, tocDigest.String(), res.TOCDigest.String(), "TOCDigest")
				assert.Equal(t, wantAnnotations(t, f, blob, tocDigest, len(tarball)), res.Annotations)
			})
		}
	}
}

// checkFormatFiles checks and removes the entries the format adds: the
// prioritized entries come first, then the landmark (one byte, 0xf); for
// eStargz the TOC is the last entry.
func checkFormatFiles(t *testing.T, f lazypull.Format, got []lazypull.Entry, first []string, landmark string) []lazypull.Entry {
	t.Helper()
	require.Greater(t, len(got), len(first)+1)
	for i, name := range first {
		assert.Equal(t, name, got[i].Name, "entry %d", i)
	}
	lm := got[len(first)]
	assert.Equal(t, landmark, lm.Name, "landmark after the prioritized entries")
	assert.Equal(t, sha([]byte{0xf}), lm.Digest, "landmark content")
	got = append(got[:len(first):len(first)], got[len(first)+1:]...)
	if f == lazypull.EStargz {
		last := got[len(got)-1]
		assert.Equal(t, lazypull.TOCTarName, last.Name, "eStargz's last entry")
		got = got[:len(got)-1]
	}
	return got
}

// verifyWithLibrary opens the blob with estargz.Open, verifies every
// chunk of every file of the decompressed tar against the TOC with the
// library's verifier, reads every file through the library's random
// access reader, and returns the TOC digest the library computed.
func verifyWithLibrary(t *testing.T, f lazypull.Format, blob, tarball []byte, contents map[string][]byte) digest.Digest {
	t.Helper()
	r, err := estargz.Open(io.NewSectionReader(bytes.NewReader(blob), 0, int64(len(blob))),
		estargz.WithDecompressors(new(zstdchunked.Decompressor)))
	require.NoError(t, err, "estargz.Open")
	v, err := r.VerifyTOC(r.TOCDigest())
	require.NoError(t, err, "VerifyTOC")

	tr := tar.NewReader(bytes.NewReader(tarball))
	chunks := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		if h.Name == estargz.TOCTarName {
			continue
		}
		_, ok := r.Lookup(h.Name)
		require.True(t, ok, "Lookup(%q)", h.Name)
		for off := int64(0); off < h.Size; {
			ce, ok := r.ChunkEntryForOffset(h.Name, off)
			require.True(t, ok, "ChunkEntryForOffset(%q, %d)", h.Name, off)
			cv, err := v.Verifier(ce)
			require.NoError(t, err, "Verifier(%q, %d)", h.Name, off)
			_, err = io.CopyN(cv, tr, ce.ChunkSize)
			require.NoError(t, err)
			assert.True(t, cv.Verified(), "chunk %q at %d verified", h.Name, off)
			off += ce.ChunkSize
			chunks++
		}
		if h.Typeflag == tar.TypeReg {
			sr, err := r.OpenFile(h.Name)
			require.NoError(t, err, "OpenFile(%q)", h.Name)
			got, err := io.ReadAll(sr)
			require.NoError(t, err)
			assert.Equal(t, sha256.Sum256(contents[cleanName(h.Name)]), sha256.Sum256(got), "OpenFile(%q) content", h.Name)
		}
	}
	assert.Greater(t, chunks, len(fixture())/2, "chunks verified")
	return r.TOCDigest()
}

// wantAnnotations computes the annotations a blob should carry: the TOC
// digest and uncompressed size, and for zstd:chunked the digest of the
// compressed TOC, read at the position the footer gives.
func wantAnnotations(t *testing.T, f lazypull.Format, blob []byte, toc digest.Digest, usize int) map[string]string {
	t.Helper()
	want := map[string]string{
		estargz.TOCJSONDigestAnnotation:         toc.String(),
		estargz.StoreUncompressedSizeAnnotation: strconv.Itoa(usize),
	}
	if f == lazypull.ZstdChunked {
		footer := blob[len(blob)-zstdchunked.FooterSize:]
		_, off, n, err := new(zstdchunked.Decompressor).ParseFooter(footer)
		require.NoError(t, err)
		compressed := blob[off : off+n]
		want[zstdchunked.ManifestChecksumAnnotation] = digest.FromBytes(compressed).String()
		var js bytes.Buffer
		rc, err := new(zstdchunked.Decompressor).DecompressTOC(bytes.NewReader(compressed))
		require.NoError(t, err)
		_, err = io.Copy(&js, rc)
		require.NoError(t, err)
		want[zstdchunked.ManifestPositionAnnotation] = strconv.FormatInt(off, 10) + ":" + strconv.FormatInt(n, 10) + ":" +
			strconv.Itoa(js.Len()) + ":1"
	}
	return want
}

// TestWriteWhiteoutsBeforePrioritized: with prioritized files, the
// layer's whiteouts (and opaque markers) still come before the entries
// they must not delete; without, the order is the input's.
func TestWriteWhiteoutsBeforePrioritized(t *testing.T) {
	input := tartest.New(
		tartest.Whiteout("app"),
		tartest.Dir("app/"),
		tartest.File("app/server", "server"),
		tartest.Dir("etc/"),
		tartest.Opaque("etc"),
		tartest.File("etc/conf", "conf"),
	).WithModTime(epoch).Bytes(t)
	for _, f := range formats {
		for _, tc := range []struct {
			prioritized []string
			want        []string
		}{
			{nil, []string{lazypull.NoPrefetchLandmark, ".wh.app", "app", "app/server", "etc", "etc/.wh..wh..opq", "etc/conf"}},
			{[]string{"/app/server"}, []string{".wh.app", "etc", "etc/.wh..wh..opq", "app", "app/server", lazypull.PrefetchLandmark, "etc/conf"}},
		} {
			blob, res := write(t, input, f, lazypull.WithPrioritizedFiles(tc.prioritized...))
			got, _ := tarEntries(t, bytes.NewReader(decompress(t, f, blob)))
			var names []string
			for _, e := range got {
				if e.Name != lazypull.TOCTarName {
					names = append(names, e.Name)
				}
			}
			assert.Equal(t, tc.want, names, "Write(%v, WithPrioritizedFiles(%q)) entries", f, tc.prioritized)
			assert.Empty(t, res.MissingPrioritized)
		}
	}
}
