package layer

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stevedore-dev/stevedore/internal/cache"
	"github.com/stevedore-dev/stevedore/internal/compress"
	"github.com/stevedore-dev/stevedore/internal/ctxio"
	"github.com/stevedore-dev/stevedore/internal/tarx"
)

// tarballSource is a tar archive on disk.
type tarballSource struct {
	sourceBase
	path string
}

// Tarball is a tar archive on disk, plain, gzip or zstd compressed as
// detected from its first bytes (not its name), or bzip2 or xz; lz4, zip and others are an
// error wrapping ErrUnsupportedCompression, and input that is not a tar
// (or is empty) one wrapping ErrNotTar. The whole input is read: bytes after
// the tar footer are ignored as tar does, concatenated gzip members and
// zero padding after gzip are accepted, any other trailing bytes after
// compressed data, a checksum mismatch or a stream cut short are errors.
// Entries keep their mtimes unless WithModTime is given. WithSHA256,
// WithSizeLimit and WithPreserveOwner apply.
func Tarball(path string, opts ...SourceOption) Source {
	t, err := newSource(kindTarball, "layer.Tarball", opts, path == "", "empty path")
	if err != nil {
		return invalid{err}
	}
	return &tarballSource{sourceBase: t, path: path}
}

// describe names the content by its sha256 when it is known, never by
// the file's name or place.
func (s *tarballSource) describe() string {
	if s.opts.sha256 != "" {
		return "tarball sha256:" + s.opts.sha256 + " -> " + s.root()
	}
	return "tarball -> " + s.root()
}

func (s *tarballSource) write(ctx context.Context, w *tarx.Writer, p *prepared) error {
	f, err := os.Open(s.path)
	if err != nil {
		if p.seen.done { // the cache key's stat found it
			err = goneErr(".", err)
		}
		return fmt.Errorf("opening tarball: %w", err)
	}
	defer f.Close()
	what := "tarball " + s.path
	r, err := p.readFile(ctx, f)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if s.opts.sha256 == "" && p.sha256 != "" {
		// The cache key hashed the file already (see sha), and r checks
		// that it is still what was hashed: hashing it again would only
		// cost time.
		return placeTar(ctx, w, p, r, what, s.opts.sizeLimit)
	}
	v := s.verifier(r)
	err = placeTar(ctx, w, p, v.r, what, s.opts.sizeLimit)
	return v.done(ctx, err, what, p)
}

// key is the tarball's sha256 (see sha).
func (s *tarballSource) key(ctx context.Context, k *cache.KeyBuilder, p *prepared) (bool, error) {
	keyRules(k, "tarball", p)
	k.AddInt(s.opts.sizeLimit)
	sum, err := s.sha(ctx, p)
	if err != nil {
		return false, err
	}
	k.AddString(sum)
	return true, nil
}

// sha is the tarball's sha256 in hex: its WithSHA256, else the hash of
// its bytes, remembered by a stat of the file (see sumMemo) and in p, so
// that the build that follows the cache key does not hash it again.
func (s *tarballSource) sha(ctx context.Context, p *prepared) (string, error) {
	if s.opts.sha256 != "" {
		return s.opts.sha256, nil
	}
	if p.sha256 != "" { // read by the build
		return p.sha256, nil
	}
	sum, err := hostFileSHA256(ctx, s.path, p)
	if err != nil {
		return "", fmt.Errorf("tarball %s: %w", s.path, err)
	}
	p.sha256 = sum
	return sum, nil
}

func (s *tarballSource) input(ctx context.Context, p *prepared) (Input, bool, error) {
	sum, err := s.sha(ctx, p)
	if err != nil {
		return Input{}, false, err
	}
	return Input{Kind: "tarball", Digest: hexDigest(sum), Destination: s.root()}, true, nil
}

// hostFileSHA256 is the sha256 (hex) of a host file, remembered by its
// stat (see sumMemo).
func hostFileSHA256(ctx context.Context, path string, p *prepared) (string, error) {
	abs, fi, err := statAbs(path)
	if err != nil {
		return "", err
	}
	return statSHA256(ctx, abs, fi, p)
}

// statAbs is the absolute path of a host file and its stat.
func statAbs(path string) (string, fs.FileInfo, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", nil, err
	}
	fi, err := os.Stat(abs)
	return abs, fi, err
}

// statSHA256 is hostFileSHA256 of the file at abs, whose stat is fi,
// which must be the stat of the source's first read in this build (see
// walkCheck).
func statSHA256(ctx context.Context, abs string, fi fs.FileInfo, p *prepared) (string, error) {
	if fi.Mode().IsRegular() { // not a pipe
		// Not checked with p's racySums: see walk.
		rehash := func() (string, error) { return fileSHA256(ctx, abs, fi, new(racySums)) }
		if err := p.sawFile(fi, rehash); err != nil {
			return "", err
		}
	}
	stat := newStatWalk("layer/file-stat/v1", abs)
	stat.add(fi)
	return p.sums.sum(stat, func() (string, error) {
		sum, err := fileSHA256(ctx, abs, fi, &p.seen.racy)
		if err == nil {
			p.seen.hashed([]string{sum})
		}
		return sum, err
	})
}

// hexDigest is the sha256 Hash of a hex sum.
func hexDigest(sum string) v1.Hash { return v1.Hash{Algorithm: "sha256", Hex: sum} }

// verifier checks WithSHA256 over everything read through r.
type verifier struct {
	r    io.Reader
	h    hash.Hash
	want string
}

func (t sourceBase) verifier(r io.Reader) *verifier {
	v := &verifier{r: r, want: t.opts.sha256, h: sha256.New()}
	v.r = io.TeeReader(r, v.h)
	return v
}

// check verifies the sha256 after reading returned err. When reading
// failed, the rest of the input is still hashed (unless ctx is done): a
// mismatch is the better explanation, so it is reported first.
func (v *verifier) check(ctx context.Context, err error, what string) error {
	if v.want == "" {
		return err
	}
	if err == nil {
		return v.sum(what)
	}
	if ctx.Err() != nil {
		return err
	}
	if _, cerr := io.Copy(io.Discard, v.r); cerr != nil {
		return err
	}
	if serr := v.sum(what); serr != nil {
		return errors.Join(serr, err)
	}
	return err
}

// done is check, recording the sha256 of what was read in p when all
// went well (for Facts).
func (v *verifier) done(ctx context.Context, err error, what string, p *prepared) error {
	if err = v.check(ctx, err, what); err == nil {
		p.sha256 = hex.EncodeToString(v.h.Sum(nil))
	}
	return err
}

func (v *verifier) sum(what string) error {
	if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want {
		return fmt.Errorf("%w: %s has sha256:%s, want sha256:%s", ErrDigestMismatch, what, got, v.want)
	}
	return nil
}

// placeTar places the entries of the (possibly compressed) tar stream r,
// then drains r so that compression trailers and WithSHA256 cover every
// byte.
func placeTar(ctx context.Context, w *tarx.Writer, p *prepared, r io.Reader, what string, limit int64) error {
	raw := bufio.NewReaderSize(ctxio.Reader(ctx, r), 64<<10)
	format, err := compress.Detect(raw)
	if err != nil {
		if errors.Is(err, compress.ErrUnsupported) {
			return fmt.Errorf("reading %s: %w: %w", what, ErrUnsupportedCompression, err)
		}
		return fmt.Errorf("reading %s: %w", what, err)
	}
	if _, err := raw.Peek(1); errors.Is(err, io.EOF) {
		return fmt.Errorf("reading %s: %w: empty input", what, ErrNotTar)
	}
	zr, err := compress.NewReader(raw, format)
	if err != nil {
		return fmt.Errorf("reading %s: %w", what, err)
	}
	defer zr.Close()
	in := &countReader{r: zr, limit: limit}
	if err := readEntries(w, p, in, what, format); err != nil {
		return err
	}
	// Trailing bytes after the tar footer are ignored, as tar does, but
	// read: they must decompress cleanly and count for WithSHA256.
	if _, err := io.Copy(io.Discard, in); err != nil {
		return fmt.Errorf("reading %s: %w", what, err)
	}
	if _, err := io.Copy(io.Discard, raw); err != nil {
		return fmt.Errorf("reading %s: %w", what, err)
	}
	return unmatched(p, what)
}

// readEntries places each entry of the tar stream in.
func readEntries(w *tarx.Writer, p *prepared, in *countReader, what string, format compress.Format) error {
	tr := tar.NewReader(in)
	var logical int64
	for first := true; ; first = false {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if in.n == 0 {
				return fmt.Errorf("reading %s: %w: empty %v stream", what, ErrNotTar, format)
			}
			if in.n%512 != 0 {
				// archive/tar reports a stream cut inside an entry's
				// padding as a clean end.
				return fmt.Errorf("reading %s: tar stream cut after %d bytes: %w", what, in.n, io.ErrUnexpectedEOF)
			}
			return nil
		}
		if err != nil {
			if first && in.n <= 512 && (errors.Is(err, tar.ErrHeader) || (in.eof && errors.Is(err, io.ErrUnexpectedEOF))) {
				// The very first block is not a tar header, or the whole
				// (cleanly ended) input is shorter than one.
				return fmt.Errorf("reading %s: %w: %w", what, ErrNotTar, err)
			}
			return fmt.Errorf("reading %s: %w", what, err)
		}
		// Sparse entries expand holes without reading input: count
		// logical sizes against the limit too.
		if in.limit > 0 {
			logical += max(hdr.Size, 0)
			if logical > in.limit {
				return fmt.Errorf("reading %s: entry %q: %w: more than %d bytes of content", what, hdr.Name, ErrSizeLimit, in.limit)
			}
		}
		e := tarx.Entry{Header: hdr, Source: hdr.Name, Open: func() (io.ReadCloser, error) { return io.NopCloser(tr), nil }}
		if _, err := place(w, p, e); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
}

// countReader counts bytes and enforces WithSizeLimit.
type countReader struct {
	r     io.Reader
	n     int64
	limit int64
	eof   bool // the stream ended cleanly
}

func (c *countReader) Read(p []byte) (int, error) {
	if c.limit > 0 {
		if c.n >= c.limit {
			// Exactly the limit is fine; one byte more is too many.
			var one [1]byte
			n, err := c.r.Read(one[:])
			if n > 0 {
				return 0, fmt.Errorf("%w: more than %d bytes uncompressed", ErrSizeLimit, c.limit)
			}
			return 0, err
		}
		if rem := c.limit - c.n; int64(len(p)) > rem {
			p = p[:rem]
		}
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err == io.EOF {
		c.eof = true
	}
	return n, err
}
