package lazypull

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"time"

	"github.com/containerd/stargz-snapshotter/estargz"
	"github.com/containerd/stargz-snapshotter/estargz/zstdchunked"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/klauspost/compress/zstd"
)

// Bounds on what ReadTOC reads and decompresses, whatever the footer
// says. A Go toolchain layer (about 15,000 entries) has a TOC of about
// 6 MB of JSON, 0.5 MB compressed.
const (
	// MaxTOCSize bounds the compressed TOC.
	MaxTOCSize = 64 << 20
	// MaxTOCJSONSize bounds the decompressed TOC JSON.
	MaxTOCJSONSize = 256 << 20
)

// TOC is the table of contents of an eStargz or zstd:chunked blob.
type TOC struct {
	// Format is the blob's format.
	Format Format
	// Digest is the digest of the uncompressed TOC JSON, the value of the
	// AnnotationTOCDigest annotation of a layer built with this format.
	Digest v1.Hash
	// Entries are the layer's tar entries, in the blob's order, one per
	// tar entry (a large file's chunks are folded into its entry). They
	// include the format's landmark file (PrefetchLandmark or
	// NoPrefetchLandmark), which a full unpack creates too; the eStargz
	// TOC file itself (TOCTarName), also in the tar, is not listed: see
	// TarEntries.
	Entries []Entry

	jsonSize int64 // of the uncompressed TOC JSON
}

// TarEntries returns the entries of the tar that the blob decompresses
// to, in order: Entries and, for eStargz, the TOC file (TOCTarName) that
// ends the tar, as the library writes it (a regular file of mode 0 owned
// by 0:0, holding the TOC JSON: its digest is the TOC digest).
func (t *TOC) TarEntries() []Entry {
	if t.Format != EStargz {
		return t.Entries
	}
	return append(t.Entries[:len(t.Entries):len(t.Entries)], Entry{
		Name: TOCTarName, Typeflag: tar.TypeReg, Size: t.jsonSize, Digest: t.Digest,
	})
}

// Landmark and TOC file names: files at the root of eStargz and
// zstd:chunked layers that the format adds to the tar.
const (
	PrefetchLandmark   = estargz.PrefetchLandmark
	NoPrefetchLandmark = estargz.NoPrefetchLandmark
	TOCTarName         = estargz.TOCTarName // eStargz only
)

// Entry is one tar entry as a TOC describes it.
type Entry struct {
	// Name is the entry's path, cleaned and relative to the root ("" is
	// the root itself), without a trailing slash.
	Name string
	// Typeflag is the tar type: tar.TypeReg, TypeDir, TypeSymlink,
	// TypeLink, TypeChar, TypeBlock or TypeFifo.
	Typeflag byte
	// Mode is the tar header's mode (permission, setuid, setgid, sticky).
	Mode         int64
	UID, GID     int
	Uname, Gname string
	// Linkname is a symlink's target as written, or a hardlink's target
	// path, cleaned like Name.
	Linkname string
	// Size is a regular file's size.
	Size int64
	// ModTime has second precision; it is zero when the TOC has none.
	ModTime            time.Time
	Devmajor, Devminor int64
	// Xattrs are the entry's extended attributes (PAX SCHILY.xattr.*).
	Xattrs map[string]string
	// Digest is the sha256 of a regular file's content, zero when the TOC
	// has none.
	Digest v1.Hash
}

var typeflags = map[string]byte{
	"reg": tar.TypeReg, "dir": tar.TypeDir, "symlink": tar.TypeSymlink, "hardlink": tar.TypeLink,
	"char": tar.TypeChar, "block": tar.TypeBlock, "fifo": tar.TypeFifo,
}

// tocDecompressor is what ReadTOC needs of the library's decompressors.
type tocDecompressor interface {
	estargz.Decompressor
	DecompressTOC(io.Reader) (io.ReadCloser, error)
}

// footers lists the footer formats, zstd:chunked's (exact magic) first.
var footers = []struct {
	f Format
	d tocDecompressor
}{
	{ZstdChunked, new(zstdchunked.Decompressor)},
	{EStargz, new(estargz.GzipDecompressor)},
	{EStargz, new(estargz.LegacyGzipDecompressor)},
}

// ReadTOC reads the table of contents of the eStargz or zstd:chunked blob
// of the given size that r holds: its footer, then the TOC it points to,
// nothing else (a few hundred KB of a layer of hundreds of MB). A blob of
// neither format is an error wrapping ErrNoTOC. The TOC is not checked
// against the layer's descriptor: call TOC.Verify with its annotations.
func ReadTOC(r io.ReaderAt, size int64) (*TOC, error) {
	if size < 0 {
		return nil, fmt.Errorf("%w: negative blob size %d", ErrNoTOC, size)
	}
	var tailSize int64
	for _, ft := range footers {
		tailSize = max(tailSize, ft.d.FooterSize())
	}
	tailSize = min(tailSize, size)
	tail := make([]byte, tailSize)
	if err := readAt(r, tail, size-tailSize); err != nil {
		return nil, fmt.Errorf("reading footer: %w", err)
	}
	errs := []error{fmt.Errorf("no footer matches the last bytes of the %d-byte blob", size)}
	for _, ft := range footers {
		fsize := ft.d.FooterSize()
		if fsize > tailSize {
			continue
		}
		off, n, err := parseFooter(ft.d, tail[tailSize-fsize:])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if n <= 0 {
			n = size - off - fsize
		}
		if off < 0 || n <= 0 || off > size-fsize-n {
			errs = append(errs, fmt.Errorf("%v footer points to %d bytes at %d, outside the %d-byte blob", ft.f, n, off, size))
			continue
		}
		toc, err := readTOCAt(r, ft.f, ft.d, off, n)
		if err != nil {
			return nil, err
		}
		return toc, nil
	}
	return nil, fmt.Errorf("%w: %w", ErrNoTOC, errors.Join(errs...))
}

// parseFooter is d.ParseFooter, with a panic turned into an error: the
// library's gzip footer parser indexes past short extra fields.
func parseFooter(d tocDecompressor, footer []byte) (off, n int64, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("malformed footer: %v", p)
		}
	}()
	_, off, n, err = d.ParseFooter(footer)
	return off, n, err
}

func readTOCAt(r io.ReaderAt, f Format, d tocDecompressor, off, n int64) (*TOC, error) {
	if n > MaxTOCSize {
		return nil, fmt.Errorf("%w: %d compressed bytes", ErrTOCTooLarge, n)
	}
	compressed := make([]byte, n)
	if err := readAt(r, compressed, off); err != nil {
		return nil, fmt.Errorf("reading TOC: %w", err)
	}
	js, err := decompressTOC(f, d, compressed)
	if err != nil {
		return nil, fmt.Errorf("%w: decompressing %v TOC: %w", ErrNoTOC, f, err)
	}
	var j estargz.JTOC
	if err := json.Unmarshal(js, &j); err != nil {
		return nil, fmt.Errorf("%w: decoding %v TOC: %w", ErrNoTOC, f, err)
	}
	entries, err := tocEntries(j.Entries)
	if err != nil {
		return nil, fmt.Errorf("%w: %v TOC: %w", ErrNoTOC, f, err)
	}
	return &TOC{Format: f, Digest: sha256Hash(sumSHA256(js)), Entries: entries, jsonSize: int64(len(js))}, nil
}

// decompressTOC returns the TOC JSON, at most MaxTOCJSONSize bytes. The
// zstd decoder is bounded (window, memory, one goroutine) rather than the
// library's, which takes zstd's defaults.
func decompressTOC(f Format, d tocDecompressor, compressed []byte) ([]byte, error) {
	var rc io.ReadCloser
	if f == ZstdChunked {
		zr, err := zstd.NewReader(bytes.NewReader(compressed), zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxMemory(MaxTOCJSONSize), zstd.WithDecoderMaxWindow(8<<20))
		if err != nil {
			return nil, err
		}
		rc = zr.IOReadCloser()
	} else {
		var err error
		if rc, err = d.DecompressTOC(bytes.NewReader(compressed)); err != nil {
			return nil, err
		}
	}
	defer rc.Close()
	js, err := io.ReadAll(io.LimitReader(rc, MaxTOCJSONSize+1))
	if err != nil {
		return nil, err
	}
	if len(js) > MaxTOCJSONSize {
		return nil, fmt.Errorf("%w: more than %d bytes of JSON", ErrTOCTooLarge, MaxTOCJSONSize)
	}
	return js, nil
}

// tocEntries converts TOC entries, skipping chunks and filling user and
// group names that the TOC gives only on the first entry of each ID.
func tocEntries(in []*estargz.TOCEntry) ([]Entry, error) {
	out := make([]Entry, 0, len(in))
	unames, gnames := map[int]string{}, map[int]string{}
	for i, e := range in {
		if e == nil {
			return nil, fmt.Errorf("entry %d is null", i)
		}
		if e.Type == "chunk" {
			continue
		}
		tf, ok := typeflags[e.Type]
		if !ok {
			return nil, fmt.Errorf("entry %q has unknown type %q", e.Name, e.Type)
		}
		ent := Entry{
			Name: cleanName(e.Name), Typeflag: tf, Mode: e.Mode, UID: e.UID, GID: e.GID,
			Uname: orRemembered(unames, e.UID, e.Uname), Gname: orRemembered(gnames, e.GID, e.Gname),
			Linkname: e.LinkName, Size: e.Size, Devmajor: int64(e.DevMajor), Devminor: int64(e.DevMinor),
		}
		if tf == tar.TypeLink {
			ent.Linkname = cleanName(e.LinkName)
		}
		if e.ModTime3339 != "" {
			t, err := time.Parse(time.RFC3339, e.ModTime3339)
			if err != nil {
				return nil, fmt.Errorf("entry %q: modtime: %w", e.Name, err)
			}
			ent.ModTime = t
		}
		if e.Digest != "" {
			h, err := v1.NewHash(e.Digest)
			if err != nil {
				return nil, fmt.Errorf("entry %q: digest: %w", e.Name, err)
			}
			ent.Digest = h
		}
		if len(e.Xattrs) > 0 {
			ent.Xattrs = make(map[string]string, len(e.Xattrs))
			for k, v := range e.Xattrs {
				ent.Xattrs[k] = string(v)
			}
		}
		out = append(out, ent)
	}
	return out, nil
}

// orRemembered returns name, remembering it for id, or the name last
// remembered for id when name is empty.
func orRemembered(names map[int]string, id int, name string) string {
	if name == "" {
		return names[id]
	}
	names[id] = name
	return name
}

// cleanName is estargz's normalization of entry names: clean, relative
// to the root, no trailing slash.
func cleanName(name string) string {
	return path.Clean("/" + name)[1:]
}

// readAt fills p from r at off; io.EOF with a full p is no error.
func readAt(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	return err
}

func sumSHA256(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// Verify checks the TOC against the annotations of the layer's
// descriptor: the AnnotationTOCDigest value must be the TOC's digest.
// Only then does the TOC describe the layer the manifest names (a blob
// whose TOC does not match its tar is caught by the chunk digests when
// files are read, not here).
func (t *TOC) Verify(annotations map[string]string) error {
	want, ok := annotations[AnnotationTOCDigest]
	if !ok {
		return fmt.Errorf("%w: the descriptor has no %s annotation", ErrTOCDigest, AnnotationTOCDigest)
	}
	if want != t.Digest.String() {
		return fmt.Errorf("%w: TOC is %s, the descriptor says %s", ErrTOCDigest, t.Digest, want)
	}
	return nil
}
