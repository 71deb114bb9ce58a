package layer

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"

	"github.com/stevedore-dev/stevedore/internal/compress"
	"github.com/stevedore-dev/stevedore/internal/ctxio"
	"github.com/stevedore-dev/stevedore/internal/tarx"
)

// prepared is what a source resolves when the layer is built: its rules
// (ignore files read, SOURCE_DATE_EPOCH applied) and, for the cache key,
// the resolved patterns.
type prepared struct {
	rules    *tarx.Rules
	include  []string
	exclude  []string
	modTime  time.Time
	override bool
}

// defaultModTime is $SOURCE_DATE_EPOCH, else the Unix epoch.
func defaultModTime() (time.Time, error) {
	v, ok := os.LookupEnv("SOURCE_DATE_EPOCH")
	if !ok || v == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a non-negative integer", v)
	}
	return time.Unix(n, 0).UTC(), nil
}

func (s *source) prepare() (*prepared, error) {
	o := s.opts
	p := &prepared{}
	mt, err := defaultModTime()
	if err != nil {
		return nil, err
	}
	if o.modTimeSet {
		mt = o.modTime
	}
	p.modTime = mt
	// Tarballs and files keep their own mtimes unless WithModTime is given.
	p.override = o.modTimeSet || s.kind == kindDir || s.kind == kindFS
	for _, f := range o.filters {
		switch {
		case f.file != "":
			fh, err := os.Open(f.file)
			if err != nil {
				return nil, fmt.Errorf("reading ignore file: %w", err)
			}
			raw, err := io.ReadAll(io.LimitReader(fh, 16<<20))
			fh.Close()
			if err != nil {
				return nil, fmt.Errorf("reading ignore file %s: %w", f.file, err)
			}
			for i, line := range strings.Split(string(raw), "\n") {
				if strings.TrimSpace(line) == "!" {
					// docker build refuses it; ignorefile drops it.
					return nil, fmt.Errorf("ignore file %s, line %d: %w: illegal exclusion pattern \"!\"", f.file, i+1, ErrOption)
				}
			}
			pats, err := ignorefile.ReadAll(bytes.NewReader(raw))
			if err != nil {
				return nil, fmt.Errorf("reading ignore file %s: %w", f.file, err)
			}
			// What docker build refuses (patternmatcher.New on exactly
			// these patterns: "/!" is a lone "!" too), and patterns that
			// cannot be matched.
			if _, err := patternmatcher.New(pats); err != nil {
				return nil, fmt.Errorf("ignore file %s: %w: %w", f.file, ErrOption, err)
			}
			if _, err := tarx.NewFilter(nil, pats); err != nil {
				return nil, fmt.Errorf("ignore file %s: %w: %w", f.file, ErrOption, err)
			}
			p.exclude = append(p.exclude, pats...)
		case f.include:
			p.include = append(p.include, f.patterns...)
		default:
			p.exclude = append(p.exclude, f.patterns...)
		}
	}
	filter, err := tarx.NewFilter(p.include, p.exclude)
	if err != nil {
		// Only an ignore file can bring a bad pattern this far: the
		// pattern options check theirs when they are applied.
		return nil, fmt.Errorf("%s: %w: %w", s.kind, ErrOption, err)
	}
	p.rules = &tarx.Rules{
		Root:            o.root,
		Strip:           o.strip,
		Only:            o.only,
		Filter:          filter,
		ModTime:         mt,
		OverrideModTime: p.override,
		UID:             o.uid,
		GID:             o.gid,
		PreserveOwner:   o.preserveOwner,
	}
	if o.chmod != nil {
		p.rules.Chmod = o.chmod.apply
	}
	p.rules.MatchPrefix = o.matchPrefix
	return p, nil
}

// write writes the source's entries to tw.
func (s *source) write(ctx context.Context, tw *tarx.Writer, p *prepared) error {
	switch s.kind {
	case kindDir:
		return s.writeDir(ctx, tw, p)
	case kindTarball:
		return s.writeTarball(ctx, tw, p)
	case kindURL:
		return s.writeURL(ctx, tw, p)
	case kindFS:
		return s.writeFS(ctx, tw, p)
	case kindFiles:
		return s.writeFiles(ctx, tw, p)
	case kindDeletions:
		return s.writeDeletions(tw, p)
	case kindOwn:
		return s.impl.write(ctx, s, tw, p)
	}
	return fmt.Errorf("unknown source kind %d", s.kind)
}

// place rewrites a source header with the rules and places it.
func place(tw *tarx.Writer, p *prepared, hdr *tar.Header, body io.Reader) (placed bool, err error) {
	out, err := p.rules.Rewrite(hdr)
	if tarx.Skipped(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, tw.Place(tarx.Entry{Header: out, Source: hdr.Name, ParentModTime: p.modTime}, body)
}

func (s *source) writeTarball(ctx context.Context, tw *tarx.Writer, p *prepared) error {
	f, err := os.Open(s.name)
	if err != nil {
		return fmt.Errorf("opening tarball: %w", err)
	}
	defer f.Close()
	var h hash.Hash
	var r io.Reader = f
	if s.opts.sha256 != "" {
		h = sha256.New()
		r = io.TeeReader(f, h)
	}
	err = s.readTar(ctx, tw, p, r, "tarball "+s.name)
	return s.verify(ctx, err, h, r, "tarball "+s.name)
}

// verify checks WithSHA256 after readTar returned err. When reading
// failed, the rest of the input is still hashed (unless ctx is done): a
// mismatch is the better explanation, so it is reported first.
func (s *source) verify(ctx context.Context, err error, h hash.Hash, r io.Reader, what string) error {
	if h == nil {
		return err
	}
	if err == nil {
		return s.checkSum(h, what)
	}
	if ctx.Err() != nil {
		return err
	}
	if _, cerr := io.Copy(io.Discard, r); cerr != nil {
		return err
	}
	if serr := s.checkSum(h, what); serr != nil {
		return errors.Join(serr, err)
	}
	return err
}

func (s *source) checkSum(h hash.Hash, what string) error {
	if h == nil {
		return nil
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != s.opts.sha256 {
		return fmt.Errorf("%w: %s has sha256:%s, want sha256:%s", ErrDigestMismatch, what, got, s.opts.sha256)
	}
	return nil
}

// get starts downloading s.name with a GET: the response of a 2xx answer
// (its body to be closed) and the redacted URL, for errors.
func (s *source) get(ctx context.Context) (*http.Response, string, error) {
	u, _ := url.Parse(s.name)
	what := u.Redacted()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.name, nil)
	if err != nil {
		return nil, what, fmt.Errorf("downloading %s: %w", what, err)
	}
	client := s.opts.httpClient
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, what, fmt.Errorf("downloading %s: %w", what, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		resp.Body.Close()
		return nil, what, fmt.Errorf("downloading %s: %w: %s", what, ErrHTTPStatus, resp.Status)
	}
	return resp, what, nil
}

func (s *source) writeURL(ctx context.Context, tw *tarx.Writer, p *prepared) error {
	resp, what, err := s.get(ctx)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var h hash.Hash
	var r io.Reader = resp.Body
	if s.opts.sha256 != "" {
		h = sha256.New()
		r = io.TeeReader(resp.Body, h)
	}
	desc := "download " + what
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		desc += " (Content-Type " + ct + ")"
	}
	err = s.readTar(ctx, tw, p, r, desc)
	return s.verify(ctx, err, h, r, what)
}

// readTar places the entries of the (possibly compressed) tar stream r,
// then drains r so that compression trailers and WithSHA256 cover every
// byte.
func (s *source) readTar(ctx context.Context, tw *tarx.Writer, p *prepared, r io.Reader, what string) error {
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
	in := &countReader{r: zr, limit: s.opts.sizeLimit}
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
			break
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
		if lim := s.opts.sizeLimit; lim > 0 {
			logical += max(hdr.Size, 0)
			if logical > lim {
				return fmt.Errorf("reading %s: entry %q: %w: more than %d bytes of content", what, hdr.Name, ErrSizeLimit, lim)
			}
		}
		if _, err := place(tw, p, hdr, tr); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
	// Trailing bytes after the tar footer are ignored, as tar does, but
	// read: they must decompress cleanly and count for WithSHA256.
	if _, err := io.Copy(io.Discard, in); err != nil {
		return fmt.Errorf("reading %s: %w", what, err)
	}
	if _, err := io.Copy(io.Discard, raw); err != nil {
		return fmt.Errorf("reading %s: %w", what, err)
	}
	return nil
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

func (s *source) writeFiles(ctx context.Context, tw *tarx.Writer, p *prepared) error {
	files := slices.Clone(s.files)
	slices.SortStableFunc(files, func(a, b File) int {
		ca, _ := cleanRel(a.Path)
		cb, _ := cleanRel(b.Path)
		return strings.Compare(ca, cb)
	})
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		name, _ := cleanRel(f.Path)
		hdr := fileHeader(name, f)
		var body io.Reader
		if hdr.Typeflag == tar.TypeReg {
			body = bytes.NewReader(f.Data)
		}
		if _, err := place(tw, p, hdr, body); err != nil {
			return fmt.Errorf("files: %w", err)
		}
	}
	return nil
}

// fileHeader is the source header of an in-memory File.
func fileHeader(name string, f File) *tar.Header {
	hdr := &tar.Header{Name: name, ModTime: f.ModTime, Mode: tarMode(f.Mode)}
	switch {
	case f.Mode&fs.ModeDir != 0:
		hdr.Typeflag = tar.TypeDir
		if f.Mode.Perm() == 0 {
			hdr.Mode |= 0o755
		}
	case f.Mode&fs.ModeSymlink != 0:
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, f.Linkname
		if f.Mode.Perm() == 0 {
			hdr.Mode |= 0o777
		}
	default:
		hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(f.Data))
		if f.Mode.Perm() == 0 {
			hdr.Mode |= 0o644
		}
	}
	return hdr
}

// tarMode converts permission and special bits to tar's c_ISUID etc.
func tarMode(m fs.FileMode) int64 {
	t := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		t |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		t |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		t |= 0o1000
	}
	return t
}

// Whiteout names, from the OCI image spec:
// https://github.com/opencontainers/image-spec/blob/main/layer.md#whiteouts
const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
)

func (s *source) writeDeletions(tw *tarx.Writer, p *prepared) error {
	for _, d := range s.paths {
		var name string
		if s.opaque {
			if placed, dir := tw.Placed(d); !placed || !dir {
				if err := tw.Place(tarx.Entry{Header: tarx.DirHeader(d, p.modTime), Source: d, NoParents: true}, nil); err != nil {
					return fmt.Errorf("opaque %s: %w", d, err)
				}
			}
			name = d + "/" + whiteoutOpaque
		} else {
			dir, base := path.Split(d)
			name = dir + whiteoutPrefix + base
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, ModTime: p.modTime}
		if err := tw.Place(tarx.Entry{Header: hdr, Source: d, NoParents: true}, nil); err != nil {
			return fmt.Errorf("deleting %s: %w", d, err)
		}
	}
	return nil
}
