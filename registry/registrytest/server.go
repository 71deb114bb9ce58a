package registrytest

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"maps"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/distribution/distribution/v3/registry/handlers"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stevedore-dev/stevedore/internal/option"
)

// Server is an in-process OCI registry listening on 127.0.0.1: Docker
// Distribution's registry with in-memory storage, plus the OCI referrers
// API, optional authentication, TLS and injected faults, and counters of
// what clients did.
type Server struct {
	// Host is the server's address as host:port, for example
	// "127.0.0.1:41234"; image references start with it.
	Host string

	opts  *options
	srv   *httptest.Server
	app   *handlers.App
	refs  *referrers
	certs *x509.CertPool
	leaf  *x509.Certificate // the self-signed certificate of WithTLS
	auth  *authenticator

	mu        sync.Mutex
	stats     Stats
	rng       *rand.Rand
	faultSeen []int
	closing   chan struct{} // closed by Close: ends the waits of Delay
	closeOnce sync.Once
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
	if err := option.Apply(o, opts); err != nil {
		return nil, err
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	s := &Server{
		opts:      o,
		app:       newDistribution(newMemDriver()),
		refs:      newReferrers(),
		rng:       rand.New(rand.NewSource(o.seed)),
		faultSeen: make([]int, len(o.faults)),
		closing:   make(chan struct{}),
	}
	s.stats.Requests = map[string]int{}
	s.stats.Downloads = map[v1.Hash]int{}
	// Everything the handler reads is set before the server starts.
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	s.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.Host = s.srv.Listener.Addr().String()
	scheme := "http"
	if o.tls {
		cert, pool, err := selfSigned()
		if err != nil {
			s.srv.Close()
			closeDistribution(s.app)
			return nil, err
		}
		s.certs, s.leaf = pool, cert.Leaf
		s.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		scheme = "https"
	}
	switch {
	case o.basicUser != "":
		s.auth = &authenticator{basic: true, user: o.basicUser, pass: o.basicPass}
	case o.tokenUser != "":
		s.auth = &authenticator{user: o.tokenUser, pass: o.tokenPass,
			realm: scheme + "://" + s.Host + "/token", tokens: map[string]*grant{}}
	}
	if o.tls {
		s.srv.StartTLS()
	} else {
		s.srv.Start()
	}
	return s, nil
}

// Close stops the server, waits for the requests under way (those a
// [Delay] holds are let go at once), and closes its client connections.
// It is safe to call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.srv.Close()
		closeDistribution(s.app)
	})
}

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
	_, ok := s.blobSize(repo, h.String())
	return ok
}

func (s *Server) count(f func(*Stats)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.stats)
}
