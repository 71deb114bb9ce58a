package layer

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/url"
	"os"

	"github.com/stevedore-dev/stevedore/internal/cache"
	"github.com/stevedore-dev/stevedore/internal/ctxio"
	"github.com/stevedore-dev/stevedore/internal/tarx"
)

// urlFileOptions are the options URLFile takes.
var urlFileOptions = []string{"WithOwner", "WithModTime", "WithSHA256", "WithHTTPClient", "WithSizeLimit", "WithChmod"}

// urlFile is the kind of URLFile.
type urlFile struct {
	dst string // clean relative name in the layer
}

// URLFile is a file downloaded over HTTP(S) with a GET and placed as it is
// (never extracted) at dst, a slash path in the image: `ADD
// https://example.com/tool /usr/local/bin/tool`. Its mode is 0600, as
// docker build gives downloads; its mtime and owner are those of Dir (see
// WithModTime, WithOwner). The download is streamed to an unlinked temp
// file (a tar header needs the size first), never held in memory. With
// WithSHA256 the bytes are verified and, with WithCache, a URL already
// seen is not downloaded again; without it the layer is not cached. Source
// options WithOwner, WithModTime, WithChmod, WithSHA256, WithHTTPClient and
// WithSizeLimit (a bound on the download) apply.
func URLFile(rawURL, dst string, opts ...Option) Source {
	c, ok := cleanRel(dst)
	s := newOwnSource(urlFile{dst: c}, "layer.URLFile", rawURL, urlFileOptions, opts)
	if s.err != nil {
		return Source{s}
	}
	u, err := url.Parse(rawURL)
	switch {
	case err != nil:
		s.err = fmt.Errorf("%w: layer.URLFile: %w", ErrOption, err)
	case u.Scheme != "http" && u.Scheme != "https":
		s.err = fmt.Errorf("%w: layer.URLFile(%q): scheme must be http or https", ErrOption, u.Redacted())
	case !ok || c == "":
		s.err = fmt.Errorf("%w: layer.URLFile(%q): invalid destination %q", ErrOption, u.Redacted(), dst)
	default:
		s.name = u.String()
	}
	return Source{s}
}

func (f urlFile) describe(s *source) string {
	u, err := url.Parse(s.name)
	if err != nil {
		return "url file -> /" + f.dst
	}
	// User info and query often carry credentials: not in history.
	u.User, u.RawQuery, u.ForceQuery, u.Fragment = nil, "", false, ""
	return fmt.Sprintf("url file %s -> /%s", u, f.dst)
}

func (f urlFile) key(_ context.Context, s *source, k *cache.KeyBuilder, _ *prepared) (bool, error) {
	if s.opts.sha256 == "" {
		return false, nil
	}
	k.AddString("layer.URLFile").AddString(f.dst).AddString(s.opts.sha256).AddInt(s.opts.sizeLimit)
	return true, nil
}

func (f urlFile) write(ctx context.Context, s *source, tw *tarx.Writer, p *prepared) error {
	resp, what, err := s.get(ctx)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	tmp, err := os.CreateTemp("", "stevedore-download-*")
	if err != nil {
		return fmt.Errorf("downloading %s: %w", what, err)
	}
	defer tmp.Close()
	// Unlinked at once: nothing is left behind whatever happens next.
	if err := os.Remove(tmp.Name()); err != nil {
		return fmt.Errorf("downloading %s: %w", what, err)
	}
	h := sha256.New()
	in := &countReader{r: ctxio.Reader(ctx, resp.Body), limit: s.opts.sizeLimit}
	n, err := io.Copy(io.MultiWriter(tmp, h), in)
	if err != nil {
		return fmt.Errorf("downloading %s: %w", what, err)
	}
	if s.opts.sha256 != "" {
		if err := s.checkSum(h, what); err != nil {
			return err
		}
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("downloading %s: %w", what, err)
	}
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f.dst, Mode: 0o600, Size: n}
	if _, err := place(tw, p, hdr, tmp); err != nil {
		return fmt.Errorf("download %s: %w", what, err)
	}
	return nil
}
