package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/examples/internal/cli"
	"github.com/stevedore-dev/stevedore/examples/internal/exampletest"
	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/internal/gitfs/gittest"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

func TestDemo(t *testing.T) {
	r := exampletest.Run(t, run, "-cache", t.TempDir())
	assert.Contains(t, r.Name, "/shop/api", "the demo pushes shop/api")
	assert.Contains(t, r.Stderr, "Step 2/5 : ADD services/api/dist/api /", "progress on stderr")
}

// testServer is a server on a demo root pushing to an in-process
// registry, and its URL.
func testServer(t *testing.T, jobs, queue int, resolver func(context.Context, string, v1.Platform) (v1.Image, error)) (*server, string, *registrytest.Server) {
	t.Helper()
	root := t.TempDir()
	require.NoError(t, writeDemo(root))
	require.NoError(t, os.WriteFile(filepath.Join(root, "shop/services/api/Dockerfile.run"), []byte("FROM scratch\nRUN make\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(root, "shop/services/api/Dockerfile.gate"), []byte("FROM gate\nCOPY services/api/dist/api /api\n"), 0o644))
	require.NoError(t, os.Symlink("/etc", filepath.Join(root, "escape")))
	root, err := filepath.EvalSymlinks(root)
	require.NoError(t, err)
	reg := registrytest.New(t)
	if resolver == nil {
		resolver = cli.Resolver()
	}
	s := &server{root: root, registry: reg.Host, resolver: resolver, cacheDir: t.TempDir(),
		slots: make(chan struct{}, jobs), maxQueue: queue}
	hs := httptest.NewServer(s.handler())
	t.Cleanup(hs.Close)
	return s, hs.URL, reg
}

// post sends a build request and returns the status and the decoded
// messages of the answer.
func post(t *testing.T, ctx context.Context, url string, body any) (int, []map[string]any) {
	t.Helper()
	raw, ok := body.(string)
	if !ok {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		raw = string(b)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/build", strings.NewReader(raw))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	var msgs []map[string]any
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), "line %q", sc.Text())
		msgs = append(msgs, m)
	}
	return resp.StatusCode, msgs
}

// refOf returns the Ref of the final aux message, or the error.
func refOf(msgs []map[string]any) (ref, errText string) {
	for _, m := range msgs {
		if e, ok := m["error"].(string); ok {
			errText = e
		}
		if aux, ok := m["aux"].(map[string]any); ok {
			if r, ok := aux["Ref"].(string); ok {
				ref = r
			}
		}
	}
	return ref, errText
}

func TestBuildFromContextAndGit(t *testing.T) {
	_, url, reg := testServer(t, 2, 4, nil)
	status, msgs := post(t, context.Background(), url, buildRequest{Context: "shop", Dockerfile: "services/api/Dockerfile", Tag: "shop/api:v1"})
	require.Equal(t, http.StatusOK, status)
	ref, errText := refOf(msgs)
	require.Empty(t, errText, "build error")
	assert.True(t, strings.HasPrefix(ref, reg.Host+"/shop/api@sha256:"), "final Ref %q", ref)
	img := exampletest.Pull(t, ref)
	files := exampletest.Files(t, img)
	assert.Contains(t, files, "/api", "ADD of the binary")
	assert.Contains(t, files, "/etc/api/api.yaml", "COPY of the config")
	assert.Equal(t, []string{"/api"}, exampletest.Config(t, img).Entrypoint, "Entrypoint")

	repo, commit := gittest.Repo(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY site /srv\n", "site/index.html": "<h1>git</h1>"}, nil)
	status, msgs = post(t, context.Background(), url, buildRequest{Git: gittest.Serve(t, repo, "site"), Ref: "v1", Tag: "site:v1", Platforms: []string{"linux/amd64", "linux/arm64"}})
	require.Equal(t, http.StatusOK, status)
	ref, errText = refOf(msgs)
	require.Empty(t, errText, "git build error")
	assert.Contains(t, msgs[0]["aux"], "Commit", "the commit is reported first")
	assert.Equal(t, commit, msgs[0]["aux"].(map[string]any)["Commit"], "commit")
	idx := exampletest.PullIndex(t, ref)
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	assert.Len(t, im.Manifests, 2, "two platforms")
}

func TestBuildErrors(t *testing.T) {
	_, url, _ := testServer(t, 1, 1, nil)
	outside, _ := gittest.Repo(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY secret /\n", "secret": "not for clients"}, nil)
	for _, tc := range []struct {
		name   string
		body   any
		status int
		want   string
	}{
		{"not JSON", "{", http.StatusBadRequest, "reading the request"},
		{"unknown field", `{"context":"shop","tag":"a:b","nope":1}`, http.StatusBadRequest, `unknown field "nope"`},
		{"both context and git", buildRequest{Context: "shop", Git: "https://x/y.git", Tag: "a:b"}, http.StatusBadRequest, `give one of "context"`},
		{"no tag", buildRequest{Context: "shop"}, http.StatusBadRequest, `"tag": want repository:tag`},
		{"context out of the root", buildRequest{Context: "../etc", Tag: "a:b"}, http.StatusBadRequest, "want a relative directory under the server's root"},
		{"context through a symlink out", buildRequest{Context: "escape", Tag: "a:b"}, http.StatusBadRequest, `context "escape" leaves the server's root`},
		{"missing context", buildRequest{Context: "nope", Tag: "a:b"}, http.StatusBadRequest, `context "nope"`},
		{"missing Dockerfile", buildRequest{Context: "shop", Dockerfile: "nope/Dockerfile", Tag: "a:b"}, http.StatusBadRequest, `dockerfile "nope/Dockerfile": not a file`},
		{"bad platform", buildRequest{Context: "shop", Tag: "a:b", Platforms: []string{"linux"}}, http.StatusBadRequest, `platform "linux"`},
		{"local git repository out of the root", buildRequest{Git: outside, Tag: "a:b"}, http.StatusBadRequest, "leaves the server's root"},
		{"file:// git repository out of the root", buildRequest{Git: "file://" + outside, Tag: "a:b"}, http.StatusBadRequest, "leaves the server's root"},
		{"relative git path out of the root", buildRequest{Git: "../x", Tag: "a:b"}, http.StatusBadRequest, "leaves the server's root"},
		{"RUN", buildRequest{Context: "shop", Dockerfile: "services/api/Dockerfile.run", Tag: "a:b"}, http.StatusOK, "Dockerfile.run:2: RUN make: dockerfile: instruction needs a container runtime"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, msgs := post(t, context.Background(), url, tc.body)
			assert.Equal(t, tc.status, status, "status")
			_, errText := refOf(msgs)
			assert.Contains(t, errText, tc.want, "error")
		})
	}
}

// TestBuildFromLocalGit builds from a git repository under the root,
// named by a path relative to the root, by an absolute path and by a
// file:// URL.
func TestBuildFromLocalGit(t *testing.T) {
	s, url, _ := testServer(t, 2, 4, nil)
	repo, commit := gittest.Repo(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY site /srv\n", "site/index.html": "<h1>local</h1>"}, nil)
	dir := filepath.Join(s.root, "repos", "site")
	require.NoError(t, os.MkdirAll(filepath.Dir(dir), 0o755))
	require.NoError(t, os.Rename(repo, dir))
	for _, git := range []string{"repos/site", dir, "file://" + dir} {
		status, msgs := post(t, context.Background(), url, buildRequest{Git: git, Tag: "site:v1"})
		require.Equal(t, http.StatusOK, status, "POST /build git %s: status", git)
		ref, errText := refOf(msgs)
		require.Empty(t, errText, "POST /build git %s: error", git)
		assert.NotEmpty(t, ref, "POST /build git %s: Ref", git)
		assert.Equal(t, commit, msgs[0]["aux"].(map[string]any)["Commit"], "POST /build git %s: commit", git)
	}
}

// gate is a Resolver that holds every build until released, counting
// those inside.
type gate struct {
	inside, max atomic.Int32
	release     chan struct{}
	cancelled   atomic.Int32
	base        v1.Image
}

func (g *gate) resolve(ctx context.Context, ref string, p v1.Platform) (v1.Image, error) {
	n := g.inside.Add(1)
	defer g.inside.Add(-1)
	for m := g.max.Load(); n > m && !g.max.CompareAndSwap(m, n); m = g.max.Load() {
	}
	select {
	case <-g.release:
		return g.base, nil
	case <-ctx.Done():
		g.cancelled.Add(1)
		return nil, ctx.Err()
	}
}

func newGate(t *testing.T) *gate {
	base, err := image.Build(context.Background(), nil)
	require.NoError(t, err)
	return &gate{release: make(chan struct{}), base: base}
}

func health(t *testing.T, url string) map[string]any {
	t.Helper()
	resp, err := http.Get(url + "/healthz")
	require.NoError(t, err)
	defer resp.Body.Close()
	var h map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&h))
	return h
}

func TestConcurrencyLimit(t *testing.T) {
	g := newGate(t)
	_, url, _ := testServer(t, 2, 16, g.resolve)
	var wg sync.WaitGroup
	var ok atomic.Int32
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, msgs := post(t, context.Background(), url, buildRequest{Context: "shop", Dockerfile: "services/api/Dockerfile.gate", Tag: "c:" + string(rune('a'+i))})
			if ref, _ := refOf(msgs); ref != "" {
				ok.Add(1)
			}
		}()
	}
	require.Eventually(t, func() bool { h := health(t, url); return h["running"] == 2.0 && h["queued"] == 6.0 },
		10*time.Second, 10*time.Millisecond, "2 running and 6 queued")
	// Running is counted when a build takes its slot, a moment before it
	// resolves its FROM image: wait until both are held by the gate.
	require.Eventually(t, func() bool { return g.inside.Load() == 2 }, 10*time.Second, 5*time.Millisecond, "2 builds at the gate")
	close(g.release)
	wg.Wait()
	assert.Equal(t, int32(8), ok.Load(), "every queued build completes")
	assert.Equal(t, int32(2), g.max.Load(), "never more than -jobs builds at once")
}

func TestQueueFullAndCancel(t *testing.T) {
	g := newGate(t)
	_, url, _ := testServer(t, 1, 1, g.resolve)
	req := buildRequest{Context: "shop", Dockerfile: "services/api/Dockerfile.gate", Tag: "q:1"}
	ctx1, cancel1 := context.WithCancel(context.Background())
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	var wg sync.WaitGroup
	for _, ctx := range []context.Context{ctx1, ctx2} {
		wg.Add(1)
		go func() { defer wg.Done(); post(t, ctx, url, req) }()
		require.Eventually(t, func() bool { h := health(t, url); return h["running"].(float64)+h["queued"].(float64) >= 1 }, 5*time.Second, 5*time.Millisecond)
	}
	require.Eventually(t, func() bool { h := health(t, url); return h["running"] == 1.0 && h["queued"] == 1.0 }, 10*time.Second, 5*time.Millisecond)
	status, msgs := post(t, context.Background(), url, req)
	assert.Equal(t, http.StatusTooManyRequests, status, "a third request when one runs and one waits")
	_, errText := refOf(msgs)
	assert.Contains(t, errText, "build queue full", "429 error")

	// The running build's client goes away: its build is cancelled.
	cancel1()
	require.Eventually(t, func() bool { return g.cancelled.Load() >= 1 }, 10*time.Second, 5*time.Millisecond, "the build saw its client leave")
	cancel2()
	wg.Wait()
	require.Eventually(t, func() bool { h := health(t, url); return h["running"] == 0.0 && h["queued"] == 0.0 }, 10*time.Second, 5*time.Millisecond, "slots freed")
}

// TestOtherRequests: a wrong method or path is answered in JSON, in the
// error shape of the build errors, with Allow on a wrong method.
func TestOtherRequests(t *testing.T) {
	_, url, _ := testServer(t, 1, 1, nil)
	for _, tc := range []struct {
		method, path string
		status       int
		allow, want  string
	}{
		{http.MethodGet, "/build", http.StatusMethodNotAllowed, http.MethodPost, "GET /build: want POST"},
		{http.MethodPost, "/healthz", http.StatusMethodNotAllowed, http.MethodGet, "POST /healthz: want GET"},
		{http.MethodGet, "/nope", http.StatusNotFound, "", "GET /nope: no such endpoint"},
	} {
		req, err := http.NewRequestWithContext(t.Context(), tc.method, url+tc.path, nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		var body struct{ Error string }
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		require.NoError(t, err, "%s %s: a JSON body", tc.method, tc.path)
		assert.Equal(t, tc.status, resp.StatusCode, "%s %s: status", tc.method, tc.path)
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"), "%s %s: Content-Type", tc.method, tc.path)
		assert.Equal(t, tc.allow, resp.Header.Get("Allow"), "%s %s: Allow", tc.method, tc.path)
		assert.Contains(t, body.Error, tc.want, "%s %s: error", tc.method, tc.path)
	}
}
