package registrytest

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBasicAuthChallenge(t *testing.T) {
	s := New(t, WithBasicAuth("u", "p"))

	r := do(t, s, http.MethodGet, "/v2/", nil)
	assert.Equal(t, http.StatusUnauthorized, r.status, "GET /v2/ without credentials")
	assert.Equal(t, `Basic realm="registrytest"`, r.header.Get("WWW-Authenticate"), "GET /v2/ without credentials: challenge")

	req, err := http.NewRequest(http.MethodGet, s.URL()+"/v2/", nil)
	require.NoError(t, err)
	req.SetBasicAuth("u", "p")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "GET /v2/ with credentials")
	assert.Equal(t, 1, s.Stats().AuthFailures, "AuthFailures")
}

func TestTokenAuthChallengeAndScopes(t *testing.T) {
	s := New(t, WithTokenAuth("u", "p"))
	realm := `Bearer realm="` + s.URL() + `/token",service="registrytest"`
	for _, tc := range []struct {
		method, path, want string
	}{
		{http.MethodGet, "/v2/app/manifests/v1", realm + `,scope="repository:app:pull"`},
		{http.MethodPut, "/v2/app/manifests/v1", realm + `,scope="repository:app:pull,push"`},
		// A mount needs pull on its source too, as in Distribution.
		{http.MethodPost, "/v2/app/blobs/uploads/?mount=sha256:" + strings.Repeat("0", 64) + "&from=base",
			realm + `,scope="repository:app:pull,push repository:base:pull"`},
		{http.MethodGet, "/v2/", realm},
	} {
		r := do(t, s, tc.method, tc.path, nil)
		assert.Equal(t, http.StatusUnauthorized, r.status, "%s %s without a token", tc.method, tc.path)
		assert.Equal(t, tc.want, r.header.Get("WWW-Authenticate"), "%s %s without a token: challenge", tc.method, tc.path)
	}
	assert.Equal(t, http.StatusUnauthorized, do(t, s, http.MethodGet, "/token?scope=repository:app:pull", nil).status,
		"token without credentials")

	// A token for "app" does not open "other".
	s.auth.tokens["tok"] = &grant{access: map[string][]string{"app": {"pull"}}, expires: time.Now().Add(time.Minute)}
	assert.NotEqual(t, http.StatusUnauthorized, do(t, s, http.MethodGet, "/v2/app/tags/list", nil, "Authorization", "Bearer tok").status,
		"GET app's tags with an app:pull token")
	assert.Equal(t, http.StatusUnauthorized, do(t, s, http.MethodGet, "/v2/other/tags/list", nil, "Authorization", "Bearer tok").status,
		"GET other's tags with an app:pull token")
	assert.Equal(t, http.StatusUnauthorized, do(t, s, http.MethodPut, "/v2/app/manifests/v1", nil, "Authorization", "Bearer tok").status,
		"PUT app's manifest with an app:pull token")
	assert.Equal(t, 7, s.Stats().AuthFailures, "AuthFailures")
}

func TestFaultsAndCounters(t *testing.T) {
	s := New(t, WithFaults(FailEvery(2, 500).On(KindPing), FailFirst(1, 429).RetryAfter(1500*time.Millisecond).On(KindOther)))
	var codes []int
	for range 4 {
		codes = append(codes, do(t, s, http.MethodGet, "/v2/", nil).status)
	}
	assert.Equal(t, []int{200, 500, 200, 500}, codes, "FailEvery(2, 500): statuses")

	r := do(t, s, http.MethodGet, "/v2/app/tags/list", nil)
	assert.Equal(t, http.StatusTooManyRequests, r.status, "FailFirst(1, 429)")
	assert.Equal(t, "2", r.header.Get("Retry-After"), "RetryAfter(1.5s): Retry-After rounds up to whole seconds")
	assert.NotEqual(t, http.StatusTooManyRequests, do(t, s, http.MethodGet, "/v2/app/tags/list", nil).status, "FailFirst(1, 429) after the first")

	st := s.Stats()
	assert.Equal(t, 4, st.Requests["GET ping"], `Requests["GET ping"]`)
	assert.Equal(t, 2, st.Requests["GET other"], `Requests["GET other"]`)
	assert.Equal(t, 3, st.Faults, "Faults")

	s.ResetStats()
	st = s.Stats()
	assert.Zero(t, st.Faults, "Faults after ResetStats")
	assert.Empty(t, st.Requests, "Requests after ResetStats")
}

func TestResetDropsConnection(t *testing.T) {
	s := New(t, WithFaults(ResetEvery(1)))
	resp, err := http.Get(s.URL() + "/v2/")
	if err == nil {
		resp.Body.Close()
	}
	assert.Error(t, err, "GET through ResetEvery(1)")
	assert.Equal(t, 1, s.Stats().Faults, "Faults")
}

// TestCloseEndsDelays checks that Close does not wait out a Delay: a
// request held by it when the server closes is let go at once.
func TestCloseEndsDelays(t *testing.T) {
	const delay = time.Minute
	s, err := Start(WithFaults(Delay(delay)))
	require.NoError(t, err)
	answered := make(chan struct{})
	go func() {
		defer close(answered)
		if resp, err := http.Get(s.URL() + "/v2/"); err == nil {
			resp.Body.Close()
		}
	}()
	require.Eventually(t, func() bool { return s.Stats().Requests["GET ping"] == 1 }, 5*time.Second, 5*time.Millisecond, "the request reached the server")
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatalf("Close with a request held by Delay(%v): still waiting after 10s", delay)
	}
	<-answered
}

func TestInvalidOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []Option
	}{
		{"FailEvery(0, 500)", []Option{WithFaults(FailEvery(0, 500))}},
		{"FailEvery(1, 200)", []Option{WithFaults(FailEvery(1, 200))}},
		{"FailRate(2, 500)", []Option{WithFaults(FailRate(2, 500))}},
		{"zero Fault", []Option{WithFaults(Fault{})}},
		{`WithBasicAuth("", "p")`, []Option{WithBasicAuth("", "p")}},
		{`WithTokenAuth("u", "")`, []Option{WithTokenAuth("u", "")}},
		{"basic and token", []Option{WithBasicAuth("a", "b"), WithTokenAuth("a", "b")}},
	} {
		s, err := Start(tc.opts...)
		if s != nil {
			s.Close()
		}
		assert.ErrorIs(t, err, ErrInvalidOption, "Start(%s)", tc.name)
	}
	s, err := Start(nil, WithSeed(7))
	require.NoError(t, err, "Start(nil option, WithSeed(7))")
	s.Close()
}

func TestSeedIndexAndTLS(t *testing.T) {
	s := New(t, WithTLS())
	idx, err := s.SeedIndex(t.Context(), "multi:v1", "linux/amd64", "linux/arm64/v8", "linux/riscv64")
	require.NoError(t, err)
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	assert.Len(t, im.Manifests, 3, "SeedIndex manifests")

	r := do(t, s, http.MethodGet, "/v2/multi/manifests/v1", nil, "Accept", "application/vnd.oci.image.index.v1+json")
	assert.Equal(t, http.StatusOK, r.status, "GET seeded index over TLS")
	dig, err := idx.Digest()
	require.NoError(t, err)
	assert.Equal(t, dig.String(), r.header.Get("Docker-Content-Digest"), "GET seeded index: digest")

	resp, err := http.Get(s.URL() + "/v2/")
	if err == nil {
		resp.Body.Close()
	}
	require.Error(t, err, "GET without the CertPool")
	assert.Contains(t, err.Error(), "certificate", "GET without the CertPool")
}

// TestFaultCodes: an injected failure carries the distribution error code
// a registry answers its status with, which clients read to tell a
// refusal (DENIED) from a transient failure (TOOMANYREQUESTS).
func TestFaultCodes(t *testing.T) {
	for status, code := range map[int]string{
		http.StatusTooManyRequests:     "TOOMANYREQUESTS",
		http.StatusServiceUnavailable:  "UNAVAILABLE",
		http.StatusForbidden:           "DENIED",
		http.StatusInternalServerError: "UNKNOWN",
	} {
		s := New(t, WithFaults(FailFirst(1, status)))
		r := do(t, s, http.MethodGet, "/v2/", nil)
		require.Equal(t, status, r.status, "GET /v2/ with FailFirst(1, %d)", status)
		var body struct{ Errors []struct{ Code string } }
		require.NoError(t, json.Unmarshal(r.body, &body), "error body %s", r.body)
		require.Len(t, body.Errors, 1)
		assert.Equal(t, code, body.Errors[0].Code, "FailFirst(1, %d) error code", status)
	}
}
