// Package lazypulltest checks eStargz and zstd:chunked blobs the way their
// consumers do, with containerd's estargz library (its reader, TOC
// verifier and chunk verifiers), for the tests of every package that
// builds such layers.
package lazypulltest

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"maps"
	"path"
	"slices"
	"strconv"
	"testing"

	"github.com/containerd/stargz-snapshotter/estargz"
	"github.com/containerd/stargz-snapshotter/estargz/zstdchunked"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	digest "github.com/opencontainers/go-digest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Entry is one tar entry of a checked blob, as the tar and the TOC agree
// it is.
type Entry struct {
	Name     string // clean, relative
	Type     byte
	Mode     int64
	UID, GID int
	Linkname string
	Body     []byte // a regular file's content
}

// Verify checks blob, an eStargz or zstd:chunked layer whose descriptor
// has the given annotations, as a lazy puller would, and returns the
// entries of the tar it decompresses to (the format's TOC file left out):
//
//   - estargz.Open reads its TOC, and VerifyTOC checks it against the
//     annotation's TOC digest;
//   - the uncompressed-size annotation is the size of the tar the blob
//     decompresses to (with any gzip or zstd reader);
//   - every chunk of every file of that tar is checked against the TOC
//     with the library's chunk verifier, and every regular file read
//     through the library's random-access reader has the tar's content;
//   - the TOC lists exactly the tar's entries (and the directories above
//     them, which the library's reader makes when the tar has no entry
//     for them), with the same type, mode, owner, link target and size.
func Verify(t testing.TB, blob []byte, annotations map[string]string) []Entry {
	t.Helper()
	r, err := estargz.Open(io.NewSectionReader(bytes.NewReader(blob), 0, int64(len(blob))),
		estargz.WithDecompressors(new(zstdchunked.Decompressor)))
	require.NoError(t, err, "estargz.Open")
	want, err := digest.Parse(annotations[estargz.TOCJSONDigestAnnotation])
	require.NoError(t, err, "annotation %s", estargz.TOCJSONDigestAnnotation)
	v, err := r.VerifyTOC(want)
	require.NoError(t, err, "VerifyTOC(the annotation's digest)")

	tarball := decompress(t, blob)
	assert.Equal(t, strconv.Itoa(len(tarball)), annotations[estargz.StoreUncompressedSizeAnnotation],
		"annotation %s", estargz.StoreUncompressedSizeAnnotation)
	var out []Entry
	tr := tar.NewReader(bytes.NewReader(tarball))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err, "reading the decompressed tar")
		name := path.Clean("/" + h.Name)[1:]
		if name == estargz.TOCTarName {
			continue
		}
		body, err := io.ReadAll(tr)
		require.NoError(t, err)
		e := Entry{Name: name, Type: h.Typeflag, Mode: h.Mode, UID: h.Uid, GID: h.Gid, Linkname: h.Linkname, Body: body}
		checkEntry(t, r, v, e)
		out = append(out, e)
	}
	assert.Equal(t, tarNames(out), tocNames(r), "the TOC's files = the tar's")
	return out
}

// tarNames lists the names of the entries, sorted, with the directories
// above them that have no entry (the library's reader makes them).
func tarNames(es []Entry) []string {
	seen := map[string]bool{}
	for _, e := range es {
		for n := e.Name; n != "." && n != "" && !seen[n]; n = path.Dir(n) {
			seen[n] = true
		}
	}
	names := slices.Collect(maps.Keys(seen))
	slices.Sort(names)
	return names
}

// VerifyLayer is Verify on the blob of l, read with Compressed.
func VerifyLayer(t testing.TB, l v1.Layer, annotations map[string]string) []Entry {
	t.Helper()
	rc, err := l.Compressed()
	require.NoError(t, err, "Compressed()")
	blob, err := io.ReadAll(rc)
	require.NoError(t, err, "reading Compressed()")
	require.NoError(t, rc.Close())
	return Verify(t, blob, annotations)
}

// checkEntry checks one tar entry against the TOC: its metadata, every
// chunk's digest, and for a regular file its content read through the
// library.
func checkEntry(t testing.TB, r *estargz.Reader, v estargz.TOCEntryVerifier, e Entry) {
	t.Helper()
	te, ok := r.Lookup(e.Name)
	require.True(t, ok, "Lookup(%q) in the TOC", e.Name)
	if e.Type == tar.TypeLink {
		target, ok := r.Lookup(path.Clean("/" + e.Linkname)[1:])
		assert.True(t, ok && target == te, "TOC entry of hardlink %q is its target %q's", e.Name, e.Linkname)
		return
	}
	assert.Equal(t, []any{tocTypes[e.Type], e.Mode, e.UID, e.GID, e.Linkname, int64(len(e.Body))},
		[]any{te.Type, te.Mode, te.UID, te.GID, te.LinkName, te.Size}, "TOC entry of %q (type, mode, owner, link, size)", e.Name)
	if e.Type != tar.TypeReg {
		return
	}
	for off := int64(0); off < int64(len(e.Body)); {
		ce, ok := r.ChunkEntryForOffset(e.Name, off)
		require.True(t, ok, "ChunkEntryForOffset(%q, %d)", e.Name, off)
		cv, err := v.Verifier(ce)
		require.NoError(t, err, "Verifier(%q at %d)", e.Name, off)
		_, err = cv.Write(e.Body[off : off+ce.ChunkSize])
		require.NoError(t, err)
		assert.True(t, cv.Verified(), "chunk of %q at %d verified", e.Name, off)
		off += ce.ChunkSize
	}
	sr, err := r.OpenFile(e.Name)
	require.NoError(t, err, "OpenFile(%q)", e.Name)
	got, err := io.ReadAll(io.NewSectionReader(sr, 0, te.Size))
	require.NoError(t, err)
	assert.True(t, bytes.Equal(e.Body, got), "OpenFile(%q) content = the tar's", e.Name)
}

var tocTypes = map[byte]string{
	tar.TypeReg: "reg", tar.TypeDir: "dir", tar.TypeSymlink: "symlink", tar.TypeLink: "hardlink",
	tar.TypeChar: "char", tar.TypeBlock: "block", tar.TypeFifo: "fifo",
}

// tocNames lists the paths of the TOC's tree, sorted.
func tocNames(r *estargz.Reader) []string {
	var names []string
	var walk func(dir string, e *estargz.TOCEntry)
	walk = func(dir string, e *estargz.TOCEntry) {
		e.ForeachChild(func(base string, c *estargz.TOCEntry) bool {
			p := path.Join(dir, base)
			names = append(names, p)
			if c.Type == "dir" {
				walk(p, c)
			}
			return true
		})
	}
	if root, ok := r.Lookup(""); ok {
		walk("", root)
	}
	slices.Sort(names)
	return names
}

// decompress decompresses a gzip or zstd blob, as a client that does not
// know the formats does.
func decompress(t testing.TB, blob []byte) []byte {
	t.Helper()
	var rc io.Reader
	if bytes.HasPrefix(blob, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(bytes.NewReader(blob))
		require.NoError(t, err)
		rc = zr
	} else {
		zr, err := zstd.NewReader(bytes.NewReader(blob))
		require.NoError(t, err)
		defer zr.Close()
		rc = zr
	}
	out, err := io.ReadAll(rc)
	require.NoError(t, err, "decompressing the blob")
	return out
}
