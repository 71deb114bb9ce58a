package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/layer"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

var _ layer.RemoteCache = (*LayerCache)(nil)

// writeTree writes a small source tree in dir, every mtime set to mtime.
func writeTree(t *testing.T, dir string, mtime time.Time) {
	t.Helper()
	files := map[string]string{
		"bin/app":          "#!/bin/sh\necho app\n",
		"etc/app.conf":     "listen = :8080\n",
		"share/doc/README": strings.Repeat("documentation ", 500),
	}
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
		require.NoError(t, os.Chmod(p, 0o644))
	}
	require.NoError(t, os.Chmod(filepath.Join(dir, "bin/app"), 0o755))
	require.NoError(t, os.Symlink("bin/app", filepath.Join(dir, "app")))
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink != 0 {
			return err
		}
		if d.IsDir() {
			if err := os.Chmod(p, 0o755); err != nil {
				return err
			}
		}
		return os.Chtimes(p, mtime, mtime)
	}))
}

// cacheMachine is one machine building the same image: its own source
// tree and local cache, the shared registry and cache repository.
type cacheMachine struct {
	src, cacheDir string
	events        []layer.CacheEvent
	more          []image.Option // for image.Build
}

// build builds the test image on the pulled base: the source tree at /app,
// a config file, a working directory.
func (m *cacheMachine) build(t *testing.T, s *registrytest.Server, rc layer.RemoteCache, opts ...Option) v1.Image {
	t.Helper()
	ctx := ctxT(t)
	base, err := Pull(ctx, s.Ref("library/base:1"), opts...)
	require.NoError(t, err)
	lopts := []layer.Option{
		layer.WithCache(m.cacheDir),
		layer.WithRemoteCache(rc),
		layer.WithCacheEvents(func(e layer.CacheEvent) { m.events = append(m.events, e) }),
	}
	app, err := layer.FromDir(m.src, append(lopts, layer.WithRoot("/app"))...)
	require.NoError(t, err)
	conf, err := layer.FromFiles([]layer.File{{Path: "/etc/app/env", Data: []byte("MODE=prod\n")}}, lopts...)
	require.NoError(t, err)
	iopts := append([]image.Option{image.WithLayers(app, conf), image.WithWorkDir("/srv/data"), image.WithRemoteCache(rc)}, m.more...)
	img, err := image.Build(ctx, base, iopts...)
	require.NoError(t, err)
	return img
}

// kinds lists the kinds of events.
func kinds(es []layer.CacheEvent) map[layer.CacheEventKind]int {
	n := map[layer.CacheEventKind]int{}
	for _, e := range es {
		n[e.Kind]++
	}
	return n
}

// TestLayerCacheTwoMachines: machine A builds and pushes; machine B, with
// a fresh copy of the sources (new inodes and mtimes) and an empty local
// cache, gets the same digest without downloading or uploading any layer
// blob: its push mounts them from the cache repository.
func TestLayerCacheTwoMachines(t *testing.T) {
	for _, mode := range []string{"anonymous", "token"} {
		t.Run(mode, func(t *testing.T) {
			var sopts []registrytest.Option
			var opts []Option
			if mode == "token" {
				sopts = append(sopts, registrytest.WithTokenAuth(user, password))
				opts = append(opts, WithBasicAuth(user, password))
			}
			s := registrytest.New(t, sopts...)
			ctx := ctxT(t)
			_, err := Push(ctx, s.Ref("library/base:1"), randomImage(t, 2, 4096), opts...)
			require.NoError(t, err)
			rc, err := NewLayerCache(s.Ref("team/cache"), opts...)
			require.NoError(t, err)

			a := &cacheMachine{src: t.TempDir(), cacheDir: t.TempDir()}
			writeTree(t, a.src, time.Unix(1_700_000_000, 0))
			imgA := a.build(t, s, rc, opts...)
			// Events are those of the two layers given; the working
			// directory's layer, made by image.Build, reports none.
			assert.Equal(t, map[layer.CacheEventKind]int{layer.RemoteMiss: 2, layer.CacheMiss: 2, layer.RemoteStored: 2}, kinds(a.events), "machine A's cache events")
			s.ResetStats()
			_, err = Push(ctx, s.Ref("team/app:a"), imgA, opts...)
			require.NoError(t, err)
			st := s.Stats()
			assert.Equal(t, 5, st.Mounts, "machine A's push: mounts (2 base layers, 3 from the cache)")
			assert.Equal(t, 1, st.BlobUploads, "machine A's push: uploads (the config only)")

			b := &cacheMachine{src: t.TempDir(), cacheDir: t.TempDir()}
			writeTree(t, b.src, time.Now().Add(time.Hour))
			s.ResetStats()
			imgB := b.build(t, s, rc, opts...)
			assert.Equal(t, map[layer.CacheEventKind]int{layer.CacheMiss: 2, layer.RemoteHit: 2}, kinds(b.events), "machine B's cache events")
			assert.Equal(t, digest(t, imgA), digest(t, imgB), "machine B's image digest")
			cfg, err := imgB.ConfigFile()
			require.NoError(t, err)
			assert.Equal(t, 0, s.Stats().BlobUploads, "blobs uploaded by machine B's build")

			_, err = Push(ctx, s.Ref("team/app-b:b"), imgB, opts...)
			require.NoError(t, err)
			st = s.Stats()
			rawCfg, err := imgB.RawConfigFile()
			require.NoError(t, err)
			assert.Equal(t, 5, st.Mounts, "machine B's push to another repository: mounts")
			assert.Equal(t, 1, st.BlobUploads, "machine B's push: uploads (the config only)")
			assert.Equal(t, int64(len(rawCfg)), st.BlobUploadBytes, "machine B's push: bytes uploaded (the config's)")
			assert.Len(t, cfg.RootFS.DiffIDs, 5, "machine B's diff IDs")
			checkPushedB(t, s, st, imgB, opts...)
		})
	}
}

// TestLayerCacheMountsThroughPusher: machine B builds while a Pusher
// uploads (image.WithLayerBuilt): the layers the cache holds are mounted
// from it as they are handed over, not uploaded, and Push sends only the
// config.
func TestLayerCacheMountsThroughPusher(t *testing.T) {
	s := registrytest.New(t)
	ctx := ctxT(t)
	_, err := Push(ctx, s.Ref("library/base:1"), randomImage(t, 2, 4096))
	require.NoError(t, err)
	rc, err := NewLayerCache(s.Ref("team/cache"))
	require.NoError(t, err)
	a := &cacheMachine{src: t.TempDir(), cacheDir: t.TempDir()}
	writeTree(t, a.src, time.Unix(1_700_000_000, 0))
	_, err = Push(ctx, s.Ref("team/app:a"), a.build(t, s, rc))
	require.NoError(t, err)

	p, err := NewPusher(ctx, s.Ref("team/app-b:b"))
	require.NoError(t, err)
	defer p.Close()
	b := &cacheMachine{src: t.TempDir(), cacheDir: t.TempDir(), more: []image.Option{image.WithLayerBuilt(p.Upload)}}
	writeTree(t, b.src, time.Now().Add(time.Hour))
	s.ResetStats()
	imgB := b.build(t, s, rc)
	// The added layers are mounted without Push: handed over by Build.
	require.Eventually(t, func() bool { return s.Stats().Mounts == 3 }, time.Minute, 5*time.Millisecond,
		"the 3 added layers mounted before Push")
	_, err = p.Push(imgB)
	require.NoError(t, err)
	st := s.Stats()
	assert.Equal(t, 5, st.Mounts, "mounts: 3 added layers from the cache, as handed over, and 2 base layers")
	assert.Equal(t, 1, st.BlobUploads, "uploads: the config only")
	checkPushedB(t, s, st, imgB)
}

// checkPushedB checks machine B's push of img to team/app-b:b: no layer
// was downloaded (st), and the image there is whole.
func checkPushedB(t *testing.T, s *registrytest.Server, st registrytest.Stats, img v1.Image, opts ...Option) {
	t.Helper()
	layers, err := img.Layers()
	require.NoError(t, err)
	for _, l := range layers {
		assert.Zero(t, st.Downloads[digest(t, l)], "downloads of layer %s by machine B", digest(t, l))
	}
	pulled, err := Pull(ctxT(t), s.Ref("team/app-b:b"), opts...)
	require.NoError(t, err)
	require.NoError(t, validate.Image(pulled))
}

// TestLayerCacheUnreachable: with the cache registry down, the build
// succeeds, reports the failed lookup, and gives the usual digest.
func TestLayerCacheUnreachable(t *testing.T) {
	s := registrytest.New(t)
	ctx := ctxT(t)
	_, err := Push(ctx, s.Ref("library/base:1"), randomImage(t, 1, 1024))
	require.NoError(t, err)
	down := registrytest.New(t)
	rc, err := NewLayerCache(down.Ref("team/cache"), fast)
	require.NoError(t, err)
	down.Close()

	m := &cacheMachine{src: t.TempDir(), cacheDir: t.TempDir()}
	writeTree(t, m.src, time.Unix(1_700_000_000, 0))
	start := time.Now()
	img := m.build(t, s, rc)
	assert.Less(t, time.Since(start), 20*time.Second, "build time with the cache down")
	assert.Equal(t, map[layer.CacheEventKind]int{layer.CacheMiss: 2, layer.RemoteFailed: 2}, kinds(m.events), "cache events")
	for _, e := range m.events {
		if e.Kind == layer.RemoteFailed {
			assert.ErrorContains(t, e.Err, "team/cache", "RemoteFailed event's error")
		}
	}

	// The same image as without any remote cache.
	plain := &cacheMachine{src: m.src, cacheDir: t.TempDir()}
	want := plain.build(t, s, newNoCache())
	assert.Equal(t, digest(t, want), digest(t, img), "digest with the cache down")
	_, err = Push(ctx, s.Ref("team/app:v1"), img)
	assert.NoError(t, err, "Push of the image built with the cache down")
}

// noCache is a remote cache that never has anything and stores nothing.
type noCache struct{}

func newNoCache() layer.RemoteCache { return noCache{} }

func (noCache) Lookup(context.Context, string) (v1.Layer, bool, error) { return nil, false, nil }
func (noCache) Put(_ context.Context, _ string, l v1.Layer) (v1.Layer, error) {
	return l, nil
}

// TestLayerCacheEntry: the entry's format, and a lookup that downloads
// nothing.
func TestLayerCacheEntry(t *testing.T) {
	s := registrytest.New(t)
	ctx := ctxT(t)
	rc, err := NewLayerCache(s.Ref("team/cache"))
	require.NoError(t, err)
	key := strings.Repeat("ab", 32)

	_, ok, err := rc.Lookup(ctx, key)
	require.NoError(t, err, "Lookup in a repository that does not exist")
	assert.False(t, ok, "Lookup in a repository that does not exist")

	l, err := random.Layer(4096, types.OCILayer)
	require.NoError(t, err)
	stored, err := rc.Put(ctx, key, l)
	require.NoError(t, err)
	_, ok, err = rc.Lookup(ctx, strings.Repeat("cd", 32))
	require.NoError(t, err, "Lookup of another key")
	assert.False(t, ok, "Lookup of another key")

	s.ResetStats()
	got, ok, err := rc.Lookup(ctx, key)
	require.NoError(t, err)
	require.True(t, ok, "Lookup of the key stored")
	for _, sl := range []v1.Layer{stored, got} {
		for _, f := range []func(v1.Layer) (v1.Hash, error){v1.Layer.Digest, v1.Layer.DiffID} {
			want, _ := f(l)
			h, err := f(sl)
			require.NoError(t, err)
			assert.Equal(t, want, h)
		}
		size, _ := sl.Size()
		wantSize, _ := l.Size()
		assert.Equal(t, wantSize, size, "Size()")
		mt, _ := sl.MediaType()
		assert.Equal(t, types.OCILayer, mt, "MediaType()")
		m, ok := sl.(interface{ Mountable() *remote.MountableLayer })
		require.True(t, ok, "the stored layer is a %T, want one with Mountable", sl)
		ml := m.Mountable()
		assert.Equal(t, "team/cache", ml.Reference.Context().RepositoryStr(), "mounted from")
	}
	st := s.Stats()
	assert.Equal(t, 0, st.BlobGETs, "blob GETs of a lookup")
	assert.Equal(t, 1, st.Requests["GET manifest"], "manifest GETs of a lookup")

	rc2, err := got.Compressed()
	require.NoError(t, err)
	data, err := io.ReadAll(rc2)
	require.NoError(t, err)
	require.NoError(t, rc2.Close())
	want, err := l.Compressed()
	require.NoError(t, err)
	wantData, _ := io.ReadAll(want)
	assert.Equal(t, wantData, data, "the stored blob")
	assert.Equal(t, 1, s.Stats().BlobGETs, "blob GETs after Compressed")

	// The manifest, as the package documentation describes it.
	desc, err := remote.Get(mustTag(t, s.Ref("team/cache:"+LayerCacheTagPrefix+key)))
	require.NoError(t, err)
	var m v1.Manifest
	require.NoError(t, json.Unmarshal(desc.Manifest, &m))
	diffID, _ := l.DiffID()
	assert.Equal(t, LayerCacheArtifactType, m.ArtifactType)
	assert.Equal(t, types.OCIManifestSchema1, m.MediaType)
	assert.Equal(t, "application/vnd.oci.empty.v1+json", string(m.Config.MediaType))
	assert.Equal(t, key, m.Annotations["dev.stevedore.cache.key"])
	assert.Equal(t, diffID.String(), m.Layers[0].Annotations["dev.stevedore.layer.diff-id"])
	created, err := time.Parse(time.RFC3339, m.Annotations["org.opencontainers.image.created"])
	require.NoError(t, err, "created annotation")
	assert.WithinDuration(t, time.Now(), created, time.Minute, "created annotation")
	cfg, err := remote.Layer(mustTag(t, s.Ref("team/cache:x")).Context().Digest(m.Config.Digest.String()))
	require.NoError(t, err)
	rcc, err := cfg.Compressed()
	require.NoError(t, err)
	body, _ := io.ReadAll(rcc)
	assert.Equal(t, "{}", string(body), "the config blob")
}

func TestNewLayerCacheInvalid(t *testing.T) {
	for _, repo := range []string{"", "registry.example.com/team/cache:v1", "registry.example.com/team/cache@sha256:" + strings.Repeat("0", 64), "Bad Name"} {
		_, err := NewLayerCache(repo)
		assert.Error(t, err, "NewLayerCache(%q)", repo)
	}
	_, err := NewLayerCache("registry.example.com/cache", WithJobs(0))
	assert.Error(t, err, "NewLayerCache with an invalid option")

	rc, err := NewLayerCache("127.0.0.1:5000/cache")
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:5000/cache", rc.Repository(), "Repository()")
	for _, key := range []string{"", "a/b", strings.Repeat("a", 123)} {
		_, _, err := rc.Lookup(context.Background(), key)
		assert.Error(t, err, "Lookup(%q)", key)
	}
}

// TestLayerCachePrune: entries older than the age are deleted, younger
// ones and other tags are kept.
func TestLayerCachePrune(t *testing.T) {
	s := registrytest.New(t)
	ctx := ctxT(t)
	rc, err := NewLayerCache(s.Ref("team/cache"))
	require.NoError(t, err)
	now := time.Now()
	keys := map[string]time.Duration{"old1": 40 * 24 * time.Hour, "old2": 31 * 24 * time.Hour, "new": 2 * 24 * time.Hour}
	for key, age := range keys {
		putAt(t, ctx, rc, key, now.Add(-age), 512)
	}
	rc.now = func() time.Time { return now }
	// Tags that are not entries: an image, and one named like an entry.
	for _, tag := range []string{"latest", LayerCacheTagPrefix + "impostor"} {
		_, err := Push(ctx, s.Ref("team/cache:"+tag), randomImage(t, 1, 256))
		require.NoError(t, err)
	}

	checkPrune(t, ctx, rc, map[string]bool{"old1": false, "old2": false, "new": true})
	tags, err := remote.List(mustTag(t, s.Ref("team/cache:x")).Context())
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"latest", LayerCacheTagPrefix + "impostor", LayerCacheTagPrefix + "new"}, tags, "tags after Prune")

	n, err := rc.Prune(ctx, 30*24*time.Hour)
	require.NoError(t, err)
	assert.Zero(t, n, "second Prune deleted")
	empty, err := NewLayerCache(s.Ref("team/none"))
	require.NoError(t, err)
	n, err = empty.Prune(ctx, 0)
	assert.NoError(t, err, "Prune of a repository that does not exist")
	assert.Zero(t, n, "Prune of a repository that does not exist")
}

// TestLayerCacheMountsInIndex: PushIndex mounts the cached layers of the
// index's images too.
func TestLayerCacheMountsInIndex(t *testing.T) {
	s := registrytest.New(t)
	ctx := ctxT(t)
	rc, err := NewLayerCache(s.Ref("team/cache"))
	require.NoError(t, err)
	mk := func(p v1.Platform) ([]v1.Layer, error) {
		l, err := layer.FromFiles([]layer.File{{Path: "/app/" + p.Architecture, Data: bytes.Repeat([]byte(p.Architecture), 100)}},
			layer.WithRemoteCache(rc))
		return []v1.Layer{l}, err
	}
	build := func() v1.ImageIndex {
		idx, err := image.BuildIndex(ctx, nil, image.WithPlatforms("linux/amd64", "linux/arm64"), image.WithPlatformLayers(mk))
		require.NoError(t, err)
		return idx
	}
	build() // stores both layers in the cache
	idx := build()
	s.ResetStats()
	_, err = PushIndex(ctx, s.Ref("team/app:v1"), idx)
	require.NoError(t, err)
	st := s.Stats()
	assert.Equal(t, 2, st.Mounts, "mounts")
	assert.Equal(t, 2, st.BlobUploads, "uploads (two configs)")
}

// putAt puts a random layer of size bytes under key in rc, as if stored
// at the time at.
func putAt(t testing.TB, ctx context.Context, rc *LayerCache, key string, at time.Time, size int64) {
	t.Helper()
	defer func(clock func() time.Time) { rc.now = clock }(rc.now)
	rc.now = func() time.Time { return at }
	l, err := random.Layer(size, types.OCILayer)
	require.NoError(t, err)
	_, err = rc.Put(ctx, key, l)
	require.NoError(t, err, "Put(%s)", key)
}

// checkPrune prunes the entries of rc older than 30 days, and checks that
// Prune deleted the keys kept maps to false, and those only.
func checkPrune(t testing.TB, ctx context.Context, rc *LayerCache, kept map[string]bool) {
	t.Helper()
	n, err := rc.Prune(ctx, 30*24*time.Hour)
	require.NoError(t, err)
	deleted := 0
	for key, want := range kept {
		_, ok, err := rc.Lookup(ctx, key)
		require.NoError(t, err)
		assert.Equal(t, want, ok, "Lookup(%s) after Prune: found", key)
		if !want {
			deleted++
		}
	}
	assert.Equal(t, deleted, n, "Prune(30 days) deleted")
}

func mustTag(t *testing.T, ref string) name.Tag {
	t.Helper()
	tag, err := name.NewTag(ref, name.Insecure)
	require.NoError(t, err)
	return tag
}
