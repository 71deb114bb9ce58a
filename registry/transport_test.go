package registry

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

func TestTLSRegistry(t *testing.T) {
	s := registrytest.New(t, registrytest.WithTLS())
	ctx := ctxT(t)
	img := randomImage(t, 1, 1000)
	ref := s.Ref("app:v1")
	if _, err := Push(ctx, ref, img, WithTransport(s.Transport())); err != nil {
		t.Fatalf("Push over TLS with the server's CertPool = %v", err)
	}
	if _, err := Pull(ctx, ref, WithTransport(s.Transport())); err != nil {
		t.Fatalf("Pull over TLS with the server's CertPool = %v", err)
	}
	_, err := Pull(ctx, ref)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Pull over TLS without the CertPool = %v, want a certificate error", err)
	}
	if _, err := Pull(ctx, ref, WithInsecure()); err != nil {
		t.Fatalf("Pull over TLS with WithInsecure = %v", err)
	}
	if st := s.Stats(); st.Requests["GET manifest"] != 2 {
		t.Errorf("GET manifest count = %d, want 2 (the unverified pull never got that far)", st.Requests["GET manifest"])
	}
}

// recorder records requests and fails them all, standing in for hosts we
// cannot reach in tests.
type recorder struct {
	mu   sync.Mutex
	reqs []string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req.URL.Scheme+"://"+req.URL.Host)
	r.mu.Unlock()
	return nil, errors.New("recorder: no network")
}

func TestPlainHTTPOnlyForLoopback(t *testing.T) {
	for _, tc := range []struct {
		host      string
		insecure  bool
		wantPlain bool
	}{
		{"localhost:5000", false, true},
		{"127.0.0.1:5000", false, true},
		{"127.1.2.3:5000", false, true},
		{"[::1]:5000", false, true},
		{"10.1.2.3:5000", false, false}, // go-containerregistry would fall back to HTTP here
		{"192.168.0.10:5000", false, false},
		{"registry.local:5000", false, false},
		{"registry.example.com", false, false},
		{"10.1.2.3:5000", true, true},
		{"registry.example.com", true, true},
	} {
		rec := &recorder{}
		opts := []Option{WithTransport(rec), WithRetries(0)}
		if tc.insecure {
			opts = append(opts, WithInsecure())
		}
		_, err := Pull(ctxT(t), tc.host+"/app:v1", opts...)
		if err == nil {
			t.Fatalf("Pull(%s) through a failing transport = nil error", tc.host)
		}
		plain := false
		for _, r := range rec.reqs {
			plain = plain || strings.HasPrefix(r, "http://")
		}
		if plain != tc.wantPlain {
			t.Errorf("Pull(%s, insecure=%v): plain HTTP sent = %v, want %v (requests %v)", tc.host, tc.insecure, plain, tc.wantPlain, rec.reqs)
		}
		if len(rec.reqs) == 0 || !strings.HasPrefix(rec.reqs[0], "https://") {
			t.Errorf("Pull(%s): first request %v, want HTTPS first", tc.host, rec.reqs)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST": true, "127.0.0.1": true, "127.255.0.9": true, "::1": true, "[::1]": true,
		"10.0.0.1": false, "example.com": false, "localhost.example.com": false, "128.0.0.1": false, "": false,
	} {
		if got := isLoopback(host); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	for name, opt := range map[string]Option{
		"WithJobs(0)":            WithJobs(0),
		"WithRetries(-1)":        WithRetries(-1),
		"WithPlatform(linux)":    WithPlatform("linux"),
		"WithBasicAuth(u, \"\")": WithBasicAuth("u", ""),
		"WithBearerToken(\"\")":  WithBearerToken(""),
		"WithTransport(nil)":     WithTransport(nil),
		"WithKeychain(nil)":      WithKeychain(nil),
		"WithProgress(nil)":      WithProgress(nil),
		"WithUserAgent(\" \")":   WithUserAgent(" "),
	} {
		if _, err := Pull(ctxT(t), "localhost:1/x:y", opt); err == nil || !strings.HasPrefix(err.Error(), "registry: ") {
			t.Errorf("Pull with %s = %v, want a registry: option error", name, err)
		}
	}
}

type uaRecorder struct {
	inner http.RoundTripper
	mu    sync.Mutex
	uas   []string
}

func (u *uaRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	u.mu.Lock()
	u.uas = append(u.uas, r.Header.Get("User-Agent"))
	u.mu.Unlock()
	return u.inner.RoundTrip(r)
}

func TestUserAgent(t *testing.T) {
	s := registrytest.New(t)
	for _, tc := range []struct {
		opts []Option
		want string
	}{
		{nil, "stevedore"},
		{[]Option{WithUserAgent("myapp/1.2")}, "myapp/1.2"},
	} {
		rec := &uaRecorder{inner: s.Transport()}
		_, err := Push(ctxT(t), s.Ref("app:v1"), randomImage(t, 1, 10), append(tc.opts, WithTransport(rec))...)
		if err != nil {
			t.Fatal(err)
		}
		for _, ua := range rec.uas {
			if !strings.HasPrefix(ua, tc.want) {
				t.Errorf("User-Agent = %q, want it to start with %q", ua, tc.want)
			}
		}
		if len(rec.uas) == 0 {
			t.Error("no request recorded")
		}
	}
}
