package dockerfile

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDockerignoreFiles(t *testing.T) {
	tree := map[string]string{
		"a.txt": "a", "b.txt": "b", "c.log": "c",
		".dockerignore":                     "*.txt\n",
		"build/web.Dockerfile":              "FROM scratch\nCOPY . /ctx/\n",
		"build/web.Dockerfile.dockerignore": "*.log\n",
		"build/api.Dockerfile":              "FROM scratch\nCOPY . /ctx/\n",
	}
	dir := newContext(t, tree)
	for _, tc := range []struct {
		dockerfile string
		want       string
	}{
		{"build/web.Dockerfile", ".dockerignore a.txt b.txt build/api.Dockerfile build/web.Dockerfile build/web.Dockerfile.dockerignore"},
		{"build/api.Dockerfile", ".dockerignore build/api.Dockerfile build/web.Dockerfile build/web.Dockerfile.dockerignore c.log"},
	} {
		img, err := Build(context.Background(), WithContextDir(dir), WithDockerfile(filepath.Join(dir, tc.dockerfile)), WithPlatforms("linux/amd64"))
		require.NoError(t, err)
		fs := files(t, img)
		var got []string
		for n := range fs {
			if rest, ok := strings.CutPrefix(n, "ctx/"); ok && fs[n].Type != '5' {
				got = append(got, rest)
			}
		}
		assert.Equal(t, tc.want, strings.Join(sortedStrings(got), " "),
			"context seen by %s (its NAME.dockerignore, if any, replaces .dockerignore)", tc.dockerfile)
	}
	// A lone "!" is refused, as docker build does.
	bad := newContext(t, map[string]string{".dockerignore": "x\n!\n", "f": "f"})
	_, err := buildIn(t, bad, "FROM scratch\nCOPY f /\n")
	assert.ErrorIs(t, err, ErrParse, "a .dockerignore with a lone !")
}

func sortedStrings(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

// recordFS is an fs.FS that records every name opened, listed or
// stat'ed, to prove a build reads only what it copies.
type recordFS struct {
	fstest.MapFS
	mu   sync.Mutex
	seen []string
}

func (r *recordFS) note(name string) {
	r.mu.Lock()
	r.seen = append(r.seen, name)
	r.mu.Unlock()
}
func (r *recordFS) Open(name string) (fs.File, error) { r.note(name); return r.MapFS.Open(name) }
func (r *recordFS) ReadDir(name string) ([]fs.DirEntry, error) {
	r.note(name)
	return r.MapFS.ReadDir(name)
}
func (r *recordFS) Lstat(name string) (fs.FileInfo, error) { r.note(name); return r.MapFS.Lstat(name) }
func (r *recordFS) Stat(name string) (fs.FileInfo, error)  { r.note(name); return r.MapFS.Stat(name) }
func (r *recordFS) ReadLink(name string) (string, error)   { r.note(name); return r.MapFS.ReadLink(name) }

// TestMonorepoFSContext: COPY of one service reads nothing of the others,
// and the context's .dockerignore applies inside it.
func TestMonorepoFSContext(t *testing.T) {
	m := fstest.MapFS{
		"Dockerfile":                       {Data: []byte("FROM scratch\nCOPY services/api /app\nCOPY libs/shared/money.go /app/lib/\nENTRYPOINT [\"/app/dist/api\"]\n")},
		".dockerignore":                    {Data: []byte("**/node_modules\n**/*.log\n")},
		"services/api/dist/api":            {Data: []byte("#!api"), Mode: 0o755},
		"services/api/node_modules/x/x.js": {Data: []byte("x")},
		"services/api/debug.log":           {Data: []byte("noise")},
		"services/api/link":                {Data: []byte("dist/api"), Mode: fs.ModeSymlink | 0o777},
		"services/web/index.html":          {Data: []byte("web")},
		"services/worker/job.yaml":         {Data: []byte("job")},
		"libs/shared/money.go":             {Data: []byte("package shared")},
		"libs/other/big.bin":               {Data: []byte("big")},
	}
	rec := &recordFS{MapFS: m}
	img, err := Build(context.Background(), WithContextFS(rec), WithPlatforms("linux/amd64"))
	require.NoError(t, err)
	assert.Equal(t, "app: 5 755 0:0\napp/dist: 5 555 0:0\napp/dist/api: 0 755 0:0 \"#!api\"\napp/lib: 5 755 0:0\napp/lib/money.go: 0 644 0:0 \"package shared\"\napp/link: 2 777 0:0 -> dist/api\n",
		listing(files(t, img)), "image of the api service (fstest.MapFS makes its implicit directories 0555)")
	for _, name := range rec.seen {
		for _, other := range []string{"services/web", "services/worker", "libs/other", "node_modules"} {
			assert.NotContains(t, name, other, "the build read %s", name)
		}
	}
}

// TestCacheHits: with a cache, a second build of an unchanged context
// takes every layer from the cache and gives the same digest.
func TestCacheHits(t *testing.T) {
	dir := newContext(t, map[string]string{"app/a": "a", "app/b/c": "c", "f": "f"})
	cache := t.TempDir()
	df := "FROM scratch\nWORKDIR /srv\nCOPY app .\nCOPY --chmod=0755 f /bin/f\nADD f /g\n"
	var events []Event
	build := func() string {
		events = nil
		img := mustBuild(t, dir, df, WithCache(cache), WithProgress(func(e Event) { events = append(events, e) }))
		d, err := img.Digest()
		require.NoError(t, err)
		return d.String()
	}
	count := func(k EventKind) int {
		n := 0
		for _, e := range events {
			if e.Kind == k {
				n++
			}
		}
		return n
	}
	first := build()
	assert.Equal(t, 0, count(EventCached), "first build: no cache hit")
	assert.Equal(t, 4, count(EventLayer), "first build: 4 layers")
	second := build()
	assert.Equal(t, first, second, "same digest from the cache")
	assert.Equal(t, 4, count(EventCached), "second build: every layer from the cache")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "app/a"), []byte("changed"), 0o644))
	third := build()
	assert.NotEqual(t, first, third, "a changed file changes the digest")
	// Each layer is placed on the image below it, so a changed layer
	// rebuilds the ones after it, as docker build's cache does: only the
	// WORKDIR before it comes from the cache.
	assert.Equal(t, 1, count(EventCached), "the layers from the changed COPY on are rebuilt")
}
