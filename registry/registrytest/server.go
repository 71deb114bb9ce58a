package registrytest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"maps"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Server is an in-process OCI registry listening on 127.0.0.1, built on
// go-containerregistry's pkg/registry handler, with optional
// authentication, TLS and injected faults, and counters of what clients did.
type Server struct {
	// Host is the server's address as host:port, for example
	// "127.0.0.1:41234"; image references start with it.
	Host string

	opts  *options
	srv   *httptest.Server
	blobs *blobStore
	certs *x509.CertPool
	auth  *authenticator

	mu        sync.Mutex
	stats     Stats
	rng       *rand.Rand
	faultSeen []int
}

// Stats counts what clients asked of a [Server] since it started or since
// the last [Server.ResetStats].
type Stats struct {
	// Requests counts every request received, faulted or not, by method and
	// kind, keyed like "HEAD blob", "PUT manifest", "PATCH upload",
	// "GET token" (see [Kind]).
	Requests map[string]int
	// BlobUploads counts blob uploads completed (the final PUT succeeded).
	BlobUploads int
	// BlobUploadBytes counts the bytes of the completed blob uploads.
	BlobUploadBytes int64
	// BlobGETs counts blob downloads answered with content (HEADs excluded).
	BlobGETs int
	// Downloads counts the same by blob digest.
	Downloads map[v1.Hash]int
	// ManifestPUTs counts manifests stored.
	ManifestPUTs int
	// Mounts counts blobs mounted from another repository.
	Mounts int
	// MountsRefused counts mount requests answered with an upload instead.
	MountsRefused int
	// Faults counts injected failures and connection resets.
	Faults int
	// AuthFailures counts requests refused for missing or wrong credentials
	// or tokens, token requests included.
	AuthFailures int
}

// New starts a [Server] for the test and closes it when the test ends. It
// fails the test when an option is invalid.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := Start(opts...)
	if err != nil {
		t.Fatalf("registrytest.New: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// Start starts a [Server] outside of a test, for example in an example
// program; the caller must [Server.Close] it.
func Start(opts ...Option) (*Server, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(o); err != nil {
			return nil, err
		}
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	s := &Server{
		opts:      o,
		blobs:     &blobStore{data: map[v1.Hash][]byte{}, links: map[string]map[v1.Hash]bool{}},
		rng:       rand.New(rand.NewSource(o.seed)),
		faultSeen: make([]int, len(o.faults)),
	}
	s.stats.Requests = map[string]int{}
	s.stats.Downloads = map[v1.Hash]int{}
	reg := ggcrregistry.New(
		ggcrregistry.Logger(log.New(io.Discard, "", 0)),
		ggcrregistry.WithBlobHandler(s.blobs),
	)
	s.srv = httptest.NewUnstartedServer(s.handler(reg))
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	scheme := "http"
	if o.tls {
		cert, pool, err := selfSigned()
		if err != nil {
			return nil, err
		}
		s.certs = pool
		s.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		s.srv.StartTLS()
		scheme = "https"
	} else {
		s.srv.Start()
	}
	s.Host = strings.TrimPrefix(s.srv.URL, scheme+"://")
	switch {
	case o.basicUser != "":
		s.auth = &authenticator{basic: true, user: o.basicUser, pass: o.basicPass}
	case o.tokenUser != "":
		s.auth = &authenticator{user: o.tokenUser, pass: o.tokenPass,
			realm: scheme + "://" + s.Host + "/token", tokens: map[string]*grant{}}
	}
	return s, nil
}

// Close stops the server and closes its client connections. It is safe to
// call more than once.
func (s *Server) Close() { s.srv.Close() }

// URL is the server's base URL, "http://127.0.0.1:port" or
// "https://127.0.0.1:port".
func (s *Server) URL() string { return s.srv.URL }

// Ref returns an image reference on this server: Ref("app:v1") is
// "127.0.0.1:port/app:v1".
func (s *Server) Ref(repoAndTag string) string { return s.Host + "/" + repoAndTag }

// CertPool returns a pool holding the server's self-signed certificate, or
// nil when the server was started without [WithTLS].
func (s *Server) CertPool() *x509.CertPool { return s.certs }

// Transport returns an HTTP transport for clients of this server: it trusts
// the server's certificate when the server uses TLS. Each call returns a new
// transport; call its CloseIdleConnections when done to free connections.
func (s *Server) Transport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if s.certs != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: s.certs, MinVersion: tls.VersionTLS12}
	}
	return tr
}

// Stats returns a snapshot of the server's counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Requests = maps.Clone(s.stats.Requests)
	st.Downloads = maps.Clone(s.stats.Downloads)
	return st
}

// ResetStats sets every counter to zero.
func (s *Server) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = Stats{Requests: map[string]int{}, Downloads: map[v1.Hash]int{}}
}

// HasBlob reports whether the repository holds the blob (uploaded to it or
// mounted into it).
func (s *Server) HasBlob(repo string, h v1.Hash) bool {
	_, err := s.blobs.Stat(context.Background(), repo, h)
	return err == nil
}

func (s *Server) count(f func(*Stats)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.stats)
}

// classify returns the kind of a request and, for /v2/<repo>/... paths, the
// repository.
func classify(r *http.Request) (Kind, string) {
	p := r.URL.Path
	if p == "/token" {
		return KindToken, ""
	}
	if p == "/v2/" || p == "/v2" {
		return KindPing, ""
	}
	rest, ok := strings.CutPrefix(p, "/v2/")
	if !ok {
		return KindOther, ""
	}
	for _, m := range []struct {
		sep  string
		kind Kind
	}{{"/blobs/uploads", KindUpload}, {"/manifests/", KindManifest}, {"/blobs/", KindBlob}, {"/tags/", KindOther}, {"/referrers/", KindOther}} {
		if i := strings.LastIndex(rest, m.sep); i > 0 {
			return m.kind, rest[:i]
		}
	}
	return KindOther, ""
}

func (s *Server) handler(reg http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind, repo := classify(r)
		if r.Header.Get(seedHeader) == seedNonce {
			rec := &statusRecorder{ResponseWriter: w}
			reg.ServeHTTP(rec, r)
			if kind == KindUpload && rec.status == http.StatusCreated {
				s.blobs.linkUploaded(repo, r.URL.Query().Get("digest"))
			}
			return
		}
		s.count(func(st *Stats) { st.Requests[r.Method+" "+string(kind)]++ })

		handled, refuseMount := s.injectFaults(w, r, kind)
		if handled {
			return
		}
		if kind == KindToken {
			if s.auth == nil || s.auth.basic {
				http.NotFound(w, r)
				return
			}
			s.auth.serveToken(s, w, r)
			return
		}
		var g *grant
		if s.auth != nil {
			var ok bool
			if g, ok = s.auth.check(s, w, r, kind, repo); !ok {
				return
			}
		}
		if kind == KindUpload && r.Method == http.MethodPost && r.URL.Query().Get("mount") != "" {
			if s.mount(w, r, repo, g, refuseMount) {
				return
			}
		}
		rec := &statusRecorder{ResponseWriter: w}
		reg.ServeHTTP(rec, r)
		ok := rec.status >= 200 && rec.status < 300
		switch {
		case !ok:
		case kind == KindUpload && rec.status == http.StatusCreated && r.URL.Query().Get("digest") != "":
			// The upload is complete (final PUT, or a monolithic POST).
			n := s.blobs.linkUploaded(repo, r.URL.Query().Get("digest"))
			s.count(func(st *Stats) { st.BlobUploads++; st.BlobUploadBytes += n })
		case kind == KindBlob && r.Method == http.MethodGet:
			h, _ := v1.NewHash(r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:])
			s.count(func(st *Stats) { st.BlobGETs++; st.Downloads[h]++ })
		case kind == KindManifest && r.Method == http.MethodPut:
			s.count(func(st *Stats) { st.ManifestPUTs++ })
		}
	})
}

// mount serves a cross-repository mount, as Distribution does: 201 when the
// blob is in the source repository (and readable), otherwise nothing, so the
// request starts a normal upload. It reports whether it answered.
func (s *Server) mount(w http.ResponseWriter, r *http.Request, repo string, g *grant, refuse bool) bool {
	q := r.URL.Query()
	h, err := v1.NewHash(q.Get("mount"))
	from := q.Get("from")
	if err != nil || from == "" {
		return false
	}
	readable := g == nil || g.allows(from, "pull")
	if refuse || !readable || !s.blobs.linked(from, h) {
		s.count(func(st *Stats) { st.MountsRefused++ })
		return false
	}
	s.blobs.link(repo, h)
	s.count(func(st *Stats) { st.Mounts++ })
	w.Header().Set("Location", "/v2/"+repo+"/blobs/"+h.String())
	w.Header().Set("Docker-Content-Digest", h.String())
	w.WriteHeader(http.StatusCreated)
	return true
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// writeError answers in the registry's JSON error format.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"errors": []map[string]string{{"code": code, "message": msg}},
	})
}

// blobStore keeps blobs in memory, linked to the repositories that hold
// them, so that a blob pushed to one repository is unknown to others until
// pushed or mounted there (as in Docker Distribution).
type blobStore struct {
	mu    sync.Mutex
	data  map[v1.Hash][]byte
	links map[string]map[v1.Hash]bool
}

var (
	_ ggcrregistry.BlobStatHandler = (*blobStore)(nil)
	_ ggcrregistry.BlobPutHandler  = (*blobStore)(nil)
)

func (b *blobStore) Stat(_ context.Context, repo string, h v1.Hash) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.links[repo][h] {
		return 0, ggcrregistry.ErrNotFound
	}
	return int64(len(b.data[h])), nil
}

func (b *blobStore) Get(_ context.Context, repo string, h v1.Hash) (io.ReadCloser, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.links[repo][h] {
		return nil, ggcrregistry.ErrNotFound
	}
	return io.NopCloser(bytes.NewReader(b.data[h])), nil
}

// Put stores a blob. go-containerregistry passes a wrong repository name
// for chunked uploads ("repo/blobs"), so the handler links the blob to the
// repository itself once the upload answers 201 (linkUploaded).
func (b *blobStore) Put(_ context.Context, _ string, h v1.Hash, rc io.ReadCloser) error {
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return fmt.Errorf("storing blob %s: %w", h, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.data[h] = data
	return nil
}

func (b *blobStore) link(repo string, h v1.Hash) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.linkLocked(repo, h)
}

func (b *blobStore) linkLocked(repo string, h v1.Hash) {
	if b.links[repo] == nil {
		b.links[repo] = map[v1.Hash]bool{}
	}
	b.links[repo][h] = true
}

func (b *blobStore) linked(repo string, h v1.Hash) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.links[repo][h]
}

// linkUploaded links an uploaded blob to the repository and returns its
// size.
func (b *blobStore) linkUploaded(repo, digest string) int64 {
	h, err := v1.NewHash(digest)
	if err != nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.data[h]; !ok {
		return 0
	}
	b.linkLocked(repo, h)
	return int64(len(b.data[h]))
}
