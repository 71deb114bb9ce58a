package layer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// memRemote is a RemoteCache in memory that counts what it is asked.
type memRemote struct {
	mu        sync.Mutex
	entries   map[string]memEntry
	lookups   int
	puts      int
	reads     int // blobs read through layers it returned
	lookupErr error
	putErr    error
	// keepBinaries keeps the record of GoBinaries, as registry.LayerCache
	// does.
	keepBinaries bool
}

type memEntry struct {
	digest, diffID v1.Hash
	mt             types.MediaType
	blob           []byte
	createdBy      string
	tarSize        int64
	bins           []byte // nil: no record
}

func newMemRemote() *memRemote { return &memRemote{entries: map[string]memEntry{}} }

func (m *memRemote) Lookup(_ context.Context, key string) (v1.Layer, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lookups++
	if m.lookupErr != nil {
		return nil, false, m.lookupErr
	}
	e, ok := m.entries[key]
	if !ok {
		return nil, false, nil
	}
	return m.layer(e), true, nil
}

func (m *memRemote) Put(_ context.Context, key string, l v1.Layer) (v1.Layer, error) {
	m.mu.Lock()
	m.puts++
	err := m.putErr
	m.mu.Unlock()
	if err != nil {
		return nil, err
	}
	var e memEntry
	if e.digest, err = l.Digest(); err != nil {
		return nil, err
	}
	if e.diffID, err = l.DiffID(); err != nil {
		return nil, err
	}
	if e.mt, err = l.MediaType(); err != nil {
		return nil, err
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if e.blob, err = io.ReadAll(rc); err != nil {
		return nil, err
	}
	e.createdBy = l.(Describer).CreatedBy()
	e.tarSize = l.(interface{ UncompressedSize() int64 }).UncompressedSize()
	if raw, ok := l.(interface{ GoBinaries() ([]byte, bool) }).GoBinaries(); ok && m.keepBinaries {
		e.bins = raw
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.entries[key] = e
	return m.layer(e), nil
}

// layer is an entry as Lookup returns it.
func (m *memRemote) layer(e memEntry) v1.Layer {
	l, _ := partial.CompressedToLayer(&memLayer{m: m, e: e})
	if e.bins != nil {
		return withBinaries{l, e.bins}
	}
	return l
}

// withBinaries is a stored layer with the record of its Go executables.
type withBinaries struct {
	v1.Layer
	bins []byte
}

func (w withBinaries) GoBinaries() ([]byte, bool) { return w.bins, true }

type memLayer struct {
	m *memRemote
	e memEntry
}

func (l *memLayer) Digest() (v1.Hash, error)            { return l.e.digest, nil }
func (l *memLayer) DiffID() (v1.Hash, error)            { return l.e.diffID, nil }
func (l *memLayer) Size() (int64, error)                { return int64(len(l.e.blob)), nil }
func (l *memLayer) MediaType() (types.MediaType, error) { return l.e.mt, nil }
func (l *memLayer) Compressed() (io.ReadCloser, error) {
	l.m.mu.Lock()
	l.m.reads++
	l.m.mu.Unlock()
	return io.NopCloser(bytes.NewReader(l.e.blob)), nil
}

// machine builds the tree at dir as a machine with its own cache dir
// (none when cacheDir is "") and the shared remote would.
func machine(t *testing.T, dir, cacheDir string, rc RemoteCache) (v1.Layer, []CacheEventKind) {
	t.Helper()
	var kinds []CacheEventKind
	opts := []Option{WithRoot("/app"), WithRemoteCache(rc), WithCacheEvents(func(e CacheEvent) {
		assert.Equal(t, "stevedore: dir -> /app", e.Layer, "CacheEvent.Layer")
		assert.NotEmpty(t, e.Key, "CacheEvent.Key")
		kinds = append(kinds, e.Kind)
	})}
	if cacheDir != "" {
		opts = append(opts, WithCache(cacheDir))
	}
	l, err := FromDir(dir, opts...)
	require.NoError(t, err)
	_, err = l.Digest()
	require.NoError(t, err)
	return l, kinds
}

func TestRemoteCacheTwoMachines(t *testing.T) {
	for _, local := range []bool{true, false} {
		name := map[bool]string{true: "with local caches", false: "remote only"}[local]
		t.Run(name, func(t *testing.T) {
			cacheDir := func() string {
				if local {
					return t.TempDir()
				}
				return ""
			}
			a, b := t.TempDir(), t.TempDir()
			tree(t, a, "bin/app", "etc/app.conf", "share/", "current -> bin/app")
			copyTree(t, a, b, time.Now().Add(time.Hour))
			rc := newMemRemote()
			builds := countBuilds(t)

			la, kinds := machine(t, a, cacheDir(), rc)
			want := []CacheEventKind{RemoteMiss, RemoteStored}
			if local {
				want = append([]CacheEventKind{CacheMiss}, want...)
			}
			assert.Equal(t, want, kinds, "machine A's events")
			assert.Equal(t, 1, *builds, "machine A's builds")
			require.Equal(t, 1, rc.puts, "layers stored by machine A")
			assert.NotNil(t, la.(Shared).SharedLayer(), "machine A: SharedLayer() after storing")

			*builds = 0
			lb, kinds := machine(t, b, cacheDir(), rc)
			want = []CacheEventKind{RemoteHit}
			if local {
				want = append([]CacheEventKind{CacheMiss}, want...)
			}
			assert.Equal(t, want, kinds, "machine B's events")
			assert.Equal(t, 0, *builds, "machine B's builds")
			assert.Equal(t, 0, rc.reads, "blobs read from the remote cache by machine B's build")
			assert.Equal(t, 1, rc.puts, "layers stored (machine B stores none)")
			for _, f := range []func(v1.Layer) (v1.Hash, error){v1.Layer.Digest, v1.Layer.DiffID} {
				ha, _ := f(la)
				hb, err := f(lb)
				require.NoError(t, err)
				assert.Equal(t, ha, hb, "machine B's digests")
			}
			assert.NotNil(t, lb.(Shared).SharedLayer(), "machine B: SharedLayer() after a hit")

			// Reading the bytes reads them from the remote cache.
			check(t, lb)
			assert.Positive(t, rc.reads, "blob reads after Compressed")
			assert.Equal(t, summary(entries(t, la)), summary(entries(t, lb)), "entries of machine B's layer")
		})
	}
}

// TestRemoteCacheOtherFamily: a layer stored with Docker media types
// serves a build that wants OCI ones (and the other way round): the bytes
// are the same, the layer keeps its own media type.
func TestRemoteCacheOtherFamily(t *testing.T) {
	d := t.TempDir()
	tree(t, d, "a", "b/c")
	rc := newMemRemote()
	build := func(mt types.MediaType) (v1.Layer, []CacheEventKind) {
		var kinds []CacheEventKind
		l, err := FromDir(d, WithRoot("/app"), WithMediaType(mt), WithRemoteCache(rc),
			WithCacheEvents(func(e CacheEvent) { kinds = append(kinds, e.Kind) }))
		require.NoError(t, err)
		_, err = l.Digest()
		require.NoError(t, err)
		return l, kinds
	}
	docker, kinds := build(types.DockerLayer)
	require.Equal(t, []CacheEventKind{RemoteMiss, RemoteStored}, kinds, "the Docker-typed build's events")
	oci, kinds := build(types.OCILayer)
	assert.Equal(t, []CacheEventKind{RemoteHit}, kinds, "the OCI-typed build's events")
	assert.Equal(t, 1, rc.puts, "layers stored")
	mt, err := oci.MediaType()
	require.NoError(t, err)
	assert.Equal(t, types.OCILayer, mt, "MediaType() of the OCI-typed build")
	dd, err := docker.Digest()
	require.NoError(t, err)
	od, err := oci.Digest()
	require.NoError(t, err)
	assert.Equal(t, dd, od, "the same bytes")
}

// TestRemoteCacheLocalHit: a layer the local cache has costs no request
// to the remote cache.
func TestRemoteCacheLocalHit(t *testing.T) {
	d, cacheDir := t.TempDir(), t.TempDir()
	tree(t, d, "a")
	l, err := FromDir(d, WithRoot("/app"), WithCache(cacheDir))
	require.NoError(t, err)
	_, err = l.Digest()
	require.NoError(t, err)
	rc := newMemRemote()
	_, kinds := machine(t, d, cacheDir, rc)
	assert.Equal(t, []CacheEventKind{CacheHit}, kinds, "events")
	assert.Equal(t, 0, rc.lookups, "remote lookups")
	assert.Nil(t, l.(Shared).SharedLayer(), "SharedLayer() without a remote cache")
}

// TestRemoteCacheFailures: a remote cache that fails never fails the
// build, and says so in a RemoteFailed event.
func TestRemoteCacheFailures(t *testing.T) {
	unreachable := errors.New("dial tcp 127.0.0.1:1: connect: connection refused")
	for _, tc := range []struct {
		name  string
		setup func(rc *memRemote, key func() string)
		want  []CacheEventKind
		puts  int
	}{{
		name:  "unreachable",
		setup: func(rc *memRemote, _ func() string) { rc.lookupErr = unreachable },
		want:  []CacheEventKind{CacheMiss, RemoteFailed},
		puts:  0, // not tried: the store did not answer
	}, {
		name:  "refuses the push",
		setup: func(rc *memRemote, _ func() string) { rc.putErr = errors.New("HTTP 403 Forbidden") },
		want:  []CacheEventKind{CacheMiss, RemoteMiss, RemoteFailed},
		puts:  1,
	}, {
		name: "entry of another compression",
		setup: func(rc *memRemote, key func() string) {
			rc.entries[key()] = memEntry{mt: types.OCILayerZStd, blob: []byte("x")}
		},
		want: []CacheEventKind{CacheMiss, RemoteFailed, RemoteStored},
		puts: 1,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			d := t.TempDir()
			tree(t, d, "a", "b/c")
			key := func() string {
				k, _ := cacheKeyOf(t, t.TempDir(), func(o ...Option) (v1.Layer, error) {
					return FromDir(d, append(o, WithRoot("/app"))...)
				})
				return k
			}
			rc := newMemRemote()
			tc.setup(rc, key)
			var events []CacheEvent
			l, err := FromDir(d, WithRoot("/app"), WithCache(t.TempDir()), WithRemoteCache(rc),
				WithCacheEvents(func(e CacheEvent) { events = append(events, e) }))
			require.NoError(t, err)
			check(t, l)
			var kinds []CacheEventKind
			for _, e := range events {
				kinds = append(kinds, e.Kind)
				if e.Kind == RemoteFailed {
					assert.Error(t, e.Err, "RemoteFailed event's Err")
					assert.Contains(t, e.String(), "remote cache failed: stevedore: dir -> /app", "CacheEvent.String()")
				}
			}
			assert.Equal(t, tc.want, kinds, "events")
			assert.Equal(t, tc.puts, rc.puts, "puts")
			if tc.want[len(tc.want)-1] == RemoteFailed {
				assert.Nil(t, l.(Shared).SharedLayer(), "SharedLayer() when the store failed")
			}
		})
	}
}
