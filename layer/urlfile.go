package layer

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/stevedore-dev/stevedore/internal/cache"
	"github.com/stevedore-dev/stevedore/internal/ctxio"
	"github.com/stevedore-dev/stevedore/internal/tarx"
)

// urlFile is a download placed as one file.
type urlFile struct {
	*urlSource
	dst string // clean relative name in the layer
}

// URLFile is a file downloaded over HTTP(S) with a GET and placed as it is
// (never extracted) at dst, a slash path in the image: `ADD
// https://example.com/tool /usr/local/bin/tool`. Its mode is 0600, as
// docker build gives downloads; its mtime and owner are those of Dir (see
// WithModTime, WithOwner). The download is streamed to an unlinked temp
// file in the directory of WithTempDir (a tar header needs the size
// first), never held in memory. With
// WithSHA256 the bytes are verified and, with WithCache, a URL already
// seen is not downloaded again; without it the layer is not cached.
// WithSHA256, WithHTTPClient and WithSizeLimit (a bound on the download)
// apply. Errors and history show the URL's scheme, host and path only.
func URLFile(rawURL, dst string, opts ...SourceOption) Source {
	s, err := newURLSource(kindURLFile, "layer.URLFile", rawURL, opts)
	c, ok := cleanRel(dst)
	switch {
	case err != nil:
		return invalid{err}
	case !ok || c == "":
		return invalid{fmt.Errorf("%w: layer.URLFile(%q): invalid destination %q", ErrInvalidOption, s.safe, dst)}
	}
	return &urlFile{urlSource: s, dst: c}
}

func (f *urlFile) describe() string {
	return "url file " + f.safe + " -> /" + tarxJoin(f.opts.root, f.dst)
}

func (f *urlFile) input(ctx context.Context, p *prepared) (Input, bool, error) {
	in, _, err := f.urlSource.input(ctx, p)
	in.Kind, in.Destination = "url file", "/"+tarxJoin(f.opts.root, f.dst)
	return in, true, err
}

func (f *urlFile) key(_ context.Context, k *cache.KeyBuilder, p *prepared) (bool, error) {
	if f.opts.sha256 == "" {
		return false, nil
	}
	keyRules(k, "urlfile", p)
	k.AddString(f.dst).AddString(f.opts.sha256).AddInt(f.opts.sizeLimit)
	return true, nil
}

func (f *urlFile) write(ctx context.Context, w *tarx.Writer, p *prepared) error {
	resp, err := f.get(ctx)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	tmp, err := os.CreateTemp(w.TempDir(), "stevedore-download-*")
	if err != nil {
		return fmt.Errorf("downloading %s: %w", f.safe, err)
	}
	defer tmp.Close()
	// Unlinked at once: nothing is left behind whatever happens next.
	if err := os.Remove(tmp.Name()); err != nil {
		return fmt.Errorf("downloading %s: %w", f.safe, err)
	}
	h := sha256.New()
	in := &countReader{r: ctxio.Reader(ctx, resp.Body), limit: f.opts.sizeLimit}
	n, err := io.Copy(io.MultiWriter(tmp, h), in)
	if err != nil {
		return fmt.Errorf("downloading %s: %w", f.safe, f.scrub(err))
	}
	got := hex.EncodeToString(h.Sum(nil))
	if want := f.opts.sha256; want != "" && got != want {
		return fmt.Errorf("%w: %s has sha256:%s, want sha256:%s", ErrDigestMismatch, f.safe, got, want)
	}
	p.sha256 = got
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f.dst, Mode: 0o600, Size: n}
	e := tarx.Entry{Header: hdr, Source: f.safe, Reopen: true, Open: func() (io.ReadCloser, error) {
		return io.NopCloser(io.NewSectionReader(tmp, 0, n)), nil
	}}
	if _, err := place(w, p, e); err != nil {
		return fmt.Errorf("download %s: %w", f.safe, err)
	}
	return nil
}
