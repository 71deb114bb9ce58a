package itest

import (
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// Proxy is a reverse proxy on 127.0.0.1 in front of a registry that
// counts what clients did, for registries without counters of their own
// (Docker Distribution): blob uploads completed, blob downloads and
// cross-repository mounts. Clients use Host in their references (and in
// their docker config); the registry builds its upload locations from the
// Host header it receives, which the proxy passes on.
type Proxy struct {
	// Host is the proxy's host:port.
	Host string

	mu    sync.Mutex
	stats ProxyStats
}

// ProxyStats counts what clients did through a [Proxy].
type ProxyStats struct {
	// Uploads counts completed blob uploads (the PUT with ?digest=) by
	// digest ("sha256:...").
	Uploads map[string]int
	// Downloads counts blob GETs answered 200 by digest.
	Downloads map[string]int
	// Mounts counts cross-repository mounts answered 201.
	Mounts int
}

// StartProxy starts a [Proxy] in front of the registry at host (host:port,
// plain HTTP) and stops it when the test ends.
func StartProxy(t testing.TB, host string) *Proxy {
	t.Helper()
	target := &url.URL{Scheme: "http", Host: host}
	p := &Proxy{}
	p.Reset()
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host
		},
		ModifyResponse: func(resp *http.Response) error {
			p.count(resp.Request, resp.StatusCode)
			return nil
		},
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: rp}
	go srv.Serve(l) //nolint:errcheck // ends with Close
	t.Cleanup(func() { srv.Close() })
	p.Host = l.Addr().String()
	return p
}

// Ref returns Host + "/" + repoAndTag.
func (p *Proxy) Ref(repoAndTag string) string { return p.Host + "/" + repoAndTag }

func (p *Proxy) count(r *http.Request, status int) {
	path := r.URL.Path
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case r.Method == http.MethodPut && strings.Contains(path, "/blobs/uploads/") && status == http.StatusCreated:
		p.stats.Uploads[r.URL.Query().Get("digest")]++
	case r.Method == http.MethodPost && strings.HasSuffix(path, "/blobs/uploads/") && r.URL.Query().Get("digest") != "" && status == http.StatusCreated:
		p.stats.Uploads[r.URL.Query().Get("digest")]++ // monolithic upload
	case r.Method == http.MethodPost && r.URL.Query().Get("mount") != "" && status == http.StatusCreated:
		p.stats.Mounts++
	case r.Method == http.MethodGet && strings.Contains(path, "/blobs/sha256:") && status == http.StatusOK:
		p.stats.Downloads[path[strings.LastIndex(path, "/")+1:]]++
	}
}

// Stats returns a copy of the counters.
func (p *Proxy) Stats() ProxyStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return ProxyStats{Uploads: maps.Clone(p.stats.Uploads), Downloads: maps.Clone(p.stats.Downloads), Mounts: p.stats.Mounts}
}

// Reset sets the counters to zero.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats = ProxyStats{Uploads: map[string]int{}, Downloads: map[string]int{}}
}
