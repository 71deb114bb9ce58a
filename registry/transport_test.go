package registry

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

func TestTLSRegistry(t *testing.T) {
	s := registrytest.New(t, registrytest.WithTLS())
	ctx := ctxT(t)
	img := randomImage(t, 1, 1000)
	ref := s.Ref("app:v1")
	_, err := Push(ctx, ref, img, WithTransport(s.Transport()))
	require.NoError(t, err, "Push over TLS with the server's CertPool")
	_, err = Pull(ctx, ref, WithTransport(s.Transport()))
	require.NoError(t, err, "Pull over TLS with the server's CertPool")
	_, err = Pull(ctx, ref)
	require.ErrorContains(t, err, "certificate", "Pull over TLS without the CertPool")
	_, err = Pull(ctx, ref, WithInsecure())
	require.NoError(t, err, "Pull over TLS with WithInsecure")
	assert.Equal(t, 2, s.Stats().Requests["GET manifest"], "GET manifests (the unverified pull never got that far)")
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
		require.Error(t, err, "Pull(%s) through a failing transport", tc.host)
		plain := false
		for _, r := range rec.reqs {
			plain = plain || strings.HasPrefix(r, "http://")
		}
		assert.Equal(t, tc.wantPlain, plain, "Pull(%s, insecure=%v): plain HTTP sent (requests %v)", tc.host, tc.insecure, rec.reqs)
		if assert.NotEmpty(t, rec.reqs, "Pull(%s): requests", tc.host) {
			assert.True(t, strings.HasPrefix(rec.reqs[0], "https://"), "Pull(%s): first request %v, want HTTPS first", tc.host, rec.reqs)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LOCALHOST": true, "127.0.0.1": true, "127.255.0.9": true, "::1": true, "[::1]": true,
		"10.0.0.1": false, "example.com": false, "localhost.example.com": false, "128.0.0.1": false, "": false,
	} {
		assert.Equal(t, want, isLoopback(host), "isLoopback(%q)", host)
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		option string // its name, which the error starts with
		opt    Option
		why    string
	}{
		{"WithJobs", WithJobs(0), "0 jobs"},
		{"WithRetries", WithRetries(-1), "-1 retries"},
		{"WithRetries", WithRetries(101), "101 retries"},
		{"WithPlatform", WithPlatform("linux"), `"linux" is not os/arch`},
		{"WithBasicAuth", WithBasicAuth("u", ""), "needs a user name and a password"},
		{"WithBasicAuth", WithBasicAuth("", "p"), "needs a user name and a password"},
		{"WithBearerToken", WithBearerToken(""), "needs a token"},
		{"WithTransport", WithTransport(nil), "nil"},
		{"WithKeychain", WithKeychain(nil), "nil"},
		{"WithProgress", WithProgress(nil), "nil"},
		{"WithUserAgent", WithUserAgent(" "), "non-empty"},
	} {
		for _, call := range []func(o Option) error{
			func(o Option) error { _, err := Pull(ctxT(t), "localhost:1/x:y", o); return err },
			func(o Option) error {
				_, err := PushAny(ctxT(t), "localhost:1/x:y", randomImage(t, 0, 0), o)
				return err
			},
		} {
			err := call(tc.opt)
			require.ErrorIs(t, err, ErrInvalidOption, "%s", tc.option)
			assert.True(t, strings.HasPrefix(err.Error(), "registry: invalid option: "+tc.option+": "),
				"%s: error %q, want it to start with the sentinel and the option's name", tc.option, err)
			assert.Contains(t, err.Error(), tc.why, "%s", tc.option)
		}
	}
	// Nil options are ignored.
	_, err := newCall(ctxT(t), []Option{nil, WithJobs(2), nil})
	assert.NoError(t, err, "nil options")
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
		require.NoError(t, err)
		assert.NotEmpty(t, rec.uas, "requests recorded")
		for _, ua := range rec.uas {
			assert.True(t, strings.HasPrefix(ua, tc.want), "User-Agent = %q, want it to start with %q", ua, tc.want)
		}
	}
}
