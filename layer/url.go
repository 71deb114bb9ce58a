package layer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/stevedore-dev/stevedore/internal/cache"
	"github.com/stevedore-dev/stevedore/internal/tarx"
)

// urlSource is a tar archive downloaded over HTTP(S).
type urlSource struct {
	sourceBase
	url  string
	safe string // scheme, host and path: what errors and history show
}

// URL is a tar archive downloaded over HTTP(S) with a GET, streamed (never
// held in memory) and detected like Tarball. The context of New bounds the
// download. WithSHA256, WithSizeLimit, WithPreserveOwner and
// WithHTTPClient apply. Errors and history show the URL's scheme, host
// and path only: never its user info or query, which often hold
// credentials (pre-signed URLs).
func URL(rawURL string, opts ...SourceOption) Source {
	s, err := newURLSource(kindURL, "layer.URL", rawURL, opts)
	if err != nil {
		return invalid{err}
	}
	return s
}

func newURLSource(kind sourceKinds, what, rawURL string, opts []SourceOption) (*urlSource, error) {
	t, err := newSourceBase(kind, what, opts)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(rawURL)
	switch {
	case err != nil:
		// url.Parse's error quotes the whole URL.
		return nil, fmt.Errorf("%w: %s: cannot parse the URL", ErrInvalidOption, what)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%w: %s(%q): scheme must be http or https", ErrInvalidOption, what, safeURL(u))
	}
	return &urlSource{sourceBase: t, url: u.String(), safe: safeURL(u)}, nil
}

// safeURL is u without user info, query and fragment.
func safeURL(u *url.URL) string {
	c := *u
	c.User, c.RawQuery, c.ForceQuery, c.Fragment, c.RawFragment = nil, "", false, "", ""
	return c.String()
}

func (s *urlSource) describe() string { return "url " + s.safe + " -> " + s.root() }

func (s *urlSource) write(ctx context.Context, w *tarx.Writer, p *prepared) error {
	resp, err := s.get(ctx)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	desc := "download " + s.safe
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		desc += " (Content-Type " + ct + ")"
	}
	v := s.verifier(resp.Body)
	err = placeTar(ctx, w, p, v.r, desc, s.opts.sizeLimit)
	return v.done(ctx, s.scrub(err), s.safe, p)
}

// input is the URL with the sha256 of what it gave: its WithSHA256, else
// what the build read.
func (s *urlSource) input(_ context.Context, p *prepared) (Input, bool, error) {
	in := Input{Kind: "url", URI: s.safe, Destination: s.root()}
	switch {
	case s.opts.sha256 != "":
		in.Digest = hexDigest(s.opts.sha256)
	case p.sha256 != "":
		in.Digest = hexDigest(p.sha256)
	}
	return in, true, nil
}

// get starts the download, checking the status.
func (s *urlSource) get(ctx context.Context) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, fmt.Errorf("downloading %s: %w", s.safe, err)
	}
	client := s.opts.httpClient
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("downloading %s: %w", s.safe, s.scrub(err))
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		resp.Body.Close()
		return nil, fmt.Errorf("downloading %s: %w: %s", s.safe, ErrHTTPStatus, resp.Status)
	}
	return resp, nil
}

// scrub replaces the *url.Error of net/http, whose text holds the whole
// URL (of the request, or of a redirect), with its cause.
func (s *urlSource) scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// key is the URL's WithSHA256: a URL without one cannot be keyed without
// downloading it.
func (s *urlSource) key(_ context.Context, k *cache.KeyBuilder, p *prepared) (bool, error) {
	if s.opts.sha256 == "" {
		return false, nil
	}
	keyRules(k, "url", p)
	k.AddString(s.opts.sha256).AddInt(s.opts.sizeLimit)
	return true, nil
}
