package registrytest

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

func get(t *testing.T, c *http.Client, url string, header ...string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp
}

func TestBasicAuthChallenge(t *testing.T) {
	s := New(t, WithBasicAuth("u", "p"))
	c := &http.Client{}
	resp := get(t, c, s.URL()+"/v2/")
	if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic realm=") {
		t.Errorf("GET /v2/ = %d %q, want 401 Basic challenge", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	req, _ := http.NewRequest(http.MethodGet, s.URL()+"/v2/", nil)
	req.SetBasicAuth("u", "p")
	r2, err := c.Do(req)
	if err != nil || r2.StatusCode != 200 {
		t.Errorf("GET /v2/ with credentials = %v, %v", r2, err)
	}
	r2.Body.Close()
}

func TestTokenAuthChallengeAndScopes(t *testing.T) {
	s := New(t, WithTokenAuth("u", "p"))
	c := &http.Client{}
	resp := get(t, c, s.URL()+"/v2/app/manifests/v1")
	ch := resp.Header.Get("WWW-Authenticate")
	for _, want := range []string{"Bearer realm=", `service="registrytest"`, `scope="repository:app:pull"`} {
		if resp.StatusCode != 401 || !strings.Contains(ch, want) {
			t.Errorf("GET manifest = %d %q, want 401 with %s", resp.StatusCode, ch, want)
		}
	}
	if r := get(t, c, s.URL()+"/token?scope=repository:app:pull"); r.StatusCode != 401 {
		t.Errorf("token without credentials = %d, want 401", r.StatusCode)
	}
	// A token for "app" does not open "other".
	g := &grant{access: map[string][]string{"app": {"pull"}}, expires: time.Now().Add(time.Minute)}
	s.auth.tokens["tok"] = g
	if r := get(t, c, s.URL()+"/v2/app/tags/list", "Authorization", "Bearer tok"); r.StatusCode == 401 {
		t.Errorf("GET app tags with an app:pull token = 401")
	}
	if r := get(t, c, s.URL()+"/v2/other/tags/list", "Authorization", "Bearer tok"); r.StatusCode != 401 {
		t.Errorf("GET other tags with an app:pull token = %d, want 401", r.StatusCode)
	}
	if st := s.Stats(); st.AuthFailures < 3 {
		t.Errorf("AuthFailures = %d, want >= 3", st.AuthFailures)
	}
}

func TestFaultsAndCounters(t *testing.T) {
	s := New(t, WithFaults(FailEvery(2, 500).On(KindPing), FailFirst(1, 429).RetryAfter(1500*time.Millisecond).On(KindOther)))
	c := &http.Client{}
	var codes []int
	for range 4 {
		codes = append(codes, get(t, c, s.URL()+"/v2/").StatusCode)
	}
	if want := []int{200, 500, 200, 500}; !equal(codes, want) {
		t.Errorf("FailEvery(2, 500): statuses %v, want %v", codes, want)
	}
	r := get(t, c, s.URL()+"/v2/app/tags/list")
	if r.StatusCode != 429 || r.Header.Get("Retry-After") != "2" {
		t.Errorf("FailFirst(1, 429).RetryAfter(1.5s) = %d Retry-After %q, want 429 and 2", r.StatusCode, r.Header.Get("Retry-After"))
	}
	st := s.Stats()
	if st.Requests["GET ping"] != 4 || st.Faults != 3 {
		t.Errorf("stats = %+v, want 4 pings and 3 faults", st)
	}
	s.ResetStats()
	if st := s.Stats(); st.Faults != 0 || len(st.Requests) != 0 {
		t.Errorf("after ResetStats: %+v", st)
	}
}

func TestResetDropsConnection(t *testing.T) {
	s := New(t, WithFaults(ResetEvery(1)))
	_, err := http.Get(s.URL() + "/v2/")
	if err == nil {
		t.Fatal("GET through ResetEvery(1) succeeded")
	}
}

func TestInvalidOptions(t *testing.T) {
	for name, opt := range map[string]Option{
		"FailEvery(0, 500)":   WithFaults(FailEvery(0, 500)),
		"FailEvery(1, 200)":   WithFaults(FailEvery(1, 200)),
		"FailRate(2, 500)":    WithFaults(FailRate(2, 500)),
		"zero Fault":          WithFaults(Fault{}),
		"WithBasicAuth(\"\")": WithBasicAuth("", "p"),
	} {
		if _, err := Start(opt); err == nil {
			t.Errorf("Start(%s) = nil error", name)
		}
	}
	if _, err := Start(WithBasicAuth("a", "b"), WithTokenAuth("a", "b")); err == nil {
		t.Error("Start(basic and token) = nil error")
	}
}

func TestSeedIndexAndTLS(t *testing.T) {
	s := New(t, WithTLS())
	idx, err := s.SeedIndex(context.Background(), "multi:v1", "linux/amd64", "linux/arm64/v8", "linux/riscv64")
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	if len(im.Manifests) != 3 {
		t.Errorf("SeedIndex made %d manifests, want 3", len(im.Manifests))
	}
	c := &http.Client{Transport: s.Transport()}
	if r := get(t, c, s.URL()+"/v2/multi/manifests/v1"); r.StatusCode != 200 {
		t.Errorf("GET seeded index over TLS = %d", r.StatusCode)
	}
	if _, err := http.Get(s.URL() + "/v2/"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("GET without the CertPool = %v, want a certificate error", err)
	}
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
