package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The layer cache's format in its repository.
const (
	// LayerCacheArtifactType is the artifactType of the manifests of a
	// [LayerCache].
	LayerCacheArtifactType = "application/vnd.stevedore.layer-cache.v1"
	// LayerCacheTagPrefix starts the tag of every entry of a [LayerCache]:
	// the tag is the prefix and the layer's cache key.
	LayerCacheTagPrefix = "layer-"

	keyAnnotation        = "dev.stevedore.cache.key"
	createdByAnnotation  = "dev.stevedore.layer.created-by"
	diffIDAnnotation     = "dev.stevedore.layer.diff-id"
	tarSizeAnnotation    = "dev.stevedore.layer.uncompressed-size"
	goBinariesAnnotation = "dev.stevedore.layer.go-binaries"
	createdAnnotation    = "org.opencontainers.image.created"
	emptyConfig          = "{}"
	maxTagLen            = 128
	// lookupTimeout bounds a lookup: a registry that does not answer must
	// not hold a build up.
	lookupTimeout = 30 * time.Second
)

// LayerCache is a cache of built layers kept in an OCI repository, shared
// by every machine that can reach it: pass it to layer.WithRemoteCache
// (it implements layer.RemoteCache). Make one with [NewLayerCache].
//
// Each entry is an OCI artifact: a manifest of artifactType
// [LayerCacheArtifactType] whose only layer is the built blob (with its
// diff ID and uncompressed size in the annotations
// dev.stevedore.layer.diff-id and dev.stevedore.layer.uncompressed-size),
// whose config is the OCI empty descriptor, and whose annotations hold the
// cache key (dev.stevedore.cache.key), the layer's history text and the
// time it was stored (org.opencontainers.image.created), and the record of
// the Go executables the layer holds (dev.stevedore.layer.go-binaries),
// from which an SBOM is made without downloading the layer. It is tagged
// [LayerCacheTagPrefix] + the key.
//
// A lookup is one manifest GET (plus the registry's authentication round
// trips); a hit downloads nothing. The layer it returns reads its blob
// from the repository only when its Compressed is called, and [Push] to
// another repository of the same registry mounts the blob from the cache
// repository instead of uploading it (the credentials must allow pulling
// from it). Storing an entry uploads the blob and the manifest.
//
// Retention: entries are never updated after they are stored, so the
// repository grows with every new layer. [LayerCache.Prune] deletes the
// entries stored more than a given time ago (where the registry allows
// deleting manifests); a layer still in use is then rebuilt by the next
// machine that misses it, and stored again. Registries with retention
// policies (by tag prefix and push date) can do the same on their side.
// Deleting manifests frees no space until the registry's garbage
// collection runs.
//
// Trust: a build believes the entries it finds. Whoever can push to the
// cache repository decides what the layers of every build using it hold,
// as with any shared build cache: give push access to the builders only.
// A hit's blob is checked against its digest when it is read; its diff
// ID is the entry's.
type LayerCache struct {
	repo name.Repository
	opts []Option
	now  func() time.Time // the clock of Put and Prune (tests)
}

// NewLayerCache returns the layer cache kept in the repository repo
// ("registry.example.com/team/cache", no tag or digest), accessed with
// opts, as for [Push] (credentials must allow pushing to repo). Unless
// opts say otherwise with [WithRetries], a failed request is retried once,
// and a lookup is abandoned after 30 seconds: a cache that does not answer
// must not hold a build up. It does no I/O.
func NewLayerCache(repo string, opts ...Option) (*LayerCache, error) {
	opts = append([]Option{WithRetries(1)}, opts...)
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	var nopts []name.Option
	if o.insecure {
		nopts = append(nopts, name.Insecure)
	}
	r, err := name.NewRepository(repo, nopts...)
	if err != nil {
		return nil, fmt.Errorf("registry: layer cache %q: want a repository without tag or digest: %w", repo, err)
	}
	if isLoopbackRegistry(r.RegistryStr()) {
		r, _ = name.NewRepository(repo, append(nopts, name.Insecure)...)
	}
	return &LayerCache{repo: r, opts: opts, now: time.Now}, nil
}

// Repository returns the cache's repository, "registry.example.com/team/cache".
func (lc *LayerCache) Repository() string { return lc.repo.Name() }

// tag returns the tag of key's entry.
func (lc *LayerCache) tag(key string) (name.Tag, error) {
	if key == "" || len(LayerCacheTagPrefix)+len(key) > maxTagLen {
		return name.Tag{}, fmt.Errorf("registry: layer cache key %q: want 1 to %d characters", key, maxTagLen-len(LayerCacheTagPrefix))
	}
	for _, r := range key {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-') {
			return name.Tag{}, fmt.Errorf("registry: layer cache key %q: want only [A-Za-z0-9_.-]", key)
		}
	}
	return lc.repo.Tag(LayerCacheTagPrefix + key), nil
}

// Lookup returns the layer stored under key, without downloading it, and
// ok false when the repository has no such entry (or does not exist).
// Besides v1.Layer, the layer has the method Mountable()
// *remote.MountableLayer, for go-containerregistry's remote.Write.
func (lc *LayerCache) Lookup(ctx context.Context, key string) (l v1.Layer, ok bool, err error) {
	tag, err := lc.tag(key)
	if err != nil {
		return nil, false, err
	}
	lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	c, err := newCall(lctx, lc.opts)
	if err != nil {
		return nil, false, err
	}
	desc, err := remote.Get(tag, c.remoteOptions()...)
	if isNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, c.explain("looking up layer cache entry", tag, err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		return nil, false, c.explain("looking up layer cache entry", tag, err)
	}
	rec, err := parseEntry(key, m)
	if err != nil {
		return nil, false, fmt.Errorf("registry: layer cache entry %s: %w", tag, err)
	}
	return lc.layer(ctx, rec), true, nil
}

// Put stores l under key: its blob, then the entry's manifest. It returns
// the layer as stored, as [LayerCache.Lookup] would. When l has the
// methods CreatedBy() string or UncompressedSize() int64 (the layers
// package layer gives Put do), they are recorded.
func (lc *LayerCache) Put(ctx context.Context, key string, l v1.Layer) (v1.Layer, error) {
	tag, err := lc.tag(key)
	if err != nil {
		return nil, err
	}
	rec, err := recordOf(l)
	if err != nil {
		return nil, fmt.Errorf("registry: storing layer cache entry %s: %w", tag, err)
	}
	raw, err := json.Marshal(rec.manifest(key, lc.now()))
	if err != nil {
		return nil, err
	}
	img, err := partial.CompressedToImage(&entryImage{raw: raw, l: l})
	if err != nil {
		return nil, err
	}
	c, err := newCall(ctx, lc.opts)
	if err != nil {
		return nil, err
	}
	if err := remote.Write(tag, img, c.remoteOptions()...); err != nil {
		return nil, c.explain("pushing layer cache entry", tag, err)
	}
	return lc.layer(ctx, rec), nil
}

// isNotFound reports a registry's 404 (MANIFEST_UNKNOWN, NAME_UNKNOWN).
func isNotFound(err error) bool {
	var terr *transport.Error
	return errors.As(err, &terr) && terr.StatusCode == http.StatusNotFound
}

// record is what an entry says of its layer.
type record struct {
	desc      v1.Descriptor // without annotations
	diffID    v1.Hash
	tarSize   int64 // 0: unknown
	createdBy string
	// anns are the layer's own descriptor annotations (an eStargz
	// layer's TOC digest, say), kept with the entry.
	anns map[string]string
	// bins is the layer package's record of the Go executables of the
	// layer (see layer.RemoteCache); hasBins says there is one.
	bins    string
	hasBins bool
}

func recordOf(l v1.Layer) (record, error) {
	var r record
	var err error
	if r.desc.Digest, err = l.Digest(); err != nil {
		return record{}, err
	}
	if r.diffID, err = l.DiffID(); err != nil {
		return record{}, err
	}
	if r.desc.Size, err = l.Size(); err != nil {
		return record{}, err
	}
	if r.desc.MediaType, err = l.MediaType(); err != nil {
		return record{}, err
	}
	if s, ok := l.(interface{ UncompressedSize() int64 }); ok {
		r.tarSize = s.UncompressedSize()
	}
	if d, ok := l.(interface{ CreatedBy() string }); ok {
		r.createdBy = d.CreatedBy()
	}
	if b, ok := l.(interface{ GoBinaries() ([]byte, bool) }); ok {
		raw, ok := b.GoBinaries()
		r.bins, r.hasBins = string(raw), ok
	}
	if a, ok := l.(interface {
		Annotations() (map[string]string, error)
	}); ok {
		if r.anns, err = a.Annotations(); err != nil {
			return record{}, err
		}
	}
	return r, nil
}

// manifest is the entry of key for r, stored at time now.
func (r record) manifest(key string, now time.Time) v1.Manifest {
	d := r.desc
	d.Annotations = map[string]string{}
	maps.Copy(d.Annotations, r.anns)
	d.Annotations[diffIDAnnotation] = r.diffID.String()
	if r.tarSize > 0 {
		d.Annotations[tarSizeAnnotation] = strconv.FormatInt(r.tarSize, 10)
	}
	anns := map[string]string{keyAnnotation: key, createdAnnotation: now.UTC().Format(time.RFC3339)}
	if r.createdBy != "" {
		anns[createdByAnnotation] = r.createdBy
	}
	if r.hasBins {
		anns[goBinariesAnnotation] = r.bins
	}
	return v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  LayerCacheArtifactType,
		Config:        emptyDescriptor(),
		Layers:        []v1.Descriptor{d},
		Annotations:   anns,
	}
}

// emptyDescriptor is the OCI empty descriptor, the config of artifacts.
func emptyDescriptor() v1.Descriptor {
	h, n, _ := v1.SHA256(strings.NewReader(emptyConfig))
	return v1.Descriptor{MediaType: "application/vnd.oci.empty.v1+json", Digest: h, Size: n}
}

// parseEntry checks that m is the entry of key and reads its record.
func parseEntry(key string, m *v1.Manifest) (record, error) {
	switch {
	case m.ArtifactType != LayerCacheArtifactType:
		return record{}, fmt.Errorf("artifactType %q, want %q", m.ArtifactType, LayerCacheArtifactType)
	case m.Annotations[keyAnnotation] != key:
		return record{}, fmt.Errorf("annotation %s is %q, want %q", keyAnnotation, m.Annotations[keyAnnotation], key)
	case len(m.Layers) != 1:
		return record{}, fmt.Errorf("%d layers, want 1", len(m.Layers))
	}
	r := record{desc: m.Layers[0], createdBy: m.Annotations[createdByAnnotation]}
	r.bins, r.hasBins = m.Annotations[goBinariesAnnotation]
	var err error
	if r.diffID, err = v1.NewHash(r.desc.Annotations[diffIDAnnotation]); err != nil {
		return record{}, fmt.Errorf("annotation %s: %w", diffIDAnnotation, err)
	}
	if s := r.desc.Annotations[tarSizeAnnotation]; s != "" {
		r.tarSize, _ = strconv.ParseInt(s, 10, 64)
	}
	for k, v := range r.desc.Annotations {
		if k != diffIDAnnotation && k != tarSizeAnnotation {
			if r.anns == nil {
				r.anns = map[string]string{}
			}
			r.anns[k] = v
		}
	}
	r.desc.Annotations = nil
	return r, nil
}

// layer returns the stored layer of r: its blob is read from the
// repository when Compressed is called (with ctx's values, but not its
// deadline or cancellation, which bound the lookup), and pushing it to
// another repository of the registry mounts it.
func (lc *LayerCache) layer(ctx context.Context, r record) v1.Layer {
	ref := lc.repo.Digest(r.desc.Digest.String())
	sl := &storedLayer{rec: r, fetch: func() (io.ReadCloser, error) {
		c, err := newCall(context.WithoutCancel(ctx), lc.opts)
		if err != nil {
			return nil, err
		}
		rl, err := remote.Layer(ref, c.remoteOptions()...)
		if err != nil {
			return nil, c.explain("reading layer cache blob", ref, err)
		}
		rc, err := rl.Compressed()
		if err != nil {
			return nil, c.explain("reading layer cache blob", ref, err)
		}
		return rc, nil
	}}
	l, _ := partial.CompressedToLayer(sl) // fails only for a nil argument
	return &cachedLayer{MountableLayer: &remote.MountableLayer{Layer: l, Reference: ref}, rec: r}
}

// cachedLayer is a layer of the cache as Lookup and Put return it: the
// layer mountable from the cache repository (Push mounts it; Mountable
// returns it for go-containerregistry's remote.Write, which mounts only a
// *remote.MountableLayer), with the entry's record of the Go executables
// it holds.
type cachedLayer struct {
	*remote.MountableLayer
	rec record
}

// GoBinaries returns the record of the Go executables kept with the
// entry (see layer.RemoteCache).
func (c *cachedLayer) GoBinaries() ([]byte, bool) { return []byte(c.rec.bins), c.rec.hasBins }

// Mountable returns the layer as go-containerregistry mounts it.
func (c *cachedLayer) Mountable() *remote.MountableLayer { return c.MountableLayer }

// storedLayer is a layer of the cache, as its entry describes it.
type storedLayer struct {
	rec   record
	fetch func() (io.ReadCloser, error)
}

func (s *storedLayer) Digest() (v1.Hash, error)            { return s.rec.desc.Digest, nil }
func (s *storedLayer) DiffID() (v1.Hash, error)            { return s.rec.diffID, nil }
func (s *storedLayer) Size() (int64, error)                { return s.rec.desc.Size, nil }
func (s *storedLayer) MediaType() (types.MediaType, error) { return s.rec.desc.MediaType, nil }
func (s *storedLayer) Compressed() (io.ReadCloser, error)  { return s.fetch() }

// Descriptor gives the layer's own annotations with its descriptor
// (partial.Descriptor reads it through go-containerregistry's wrappers).
func (s *storedLayer) Descriptor() (*v1.Descriptor, error) {
	d := s.rec.desc
	d.Annotations = maps.Clone(s.rec.anns)
	return &d, nil
}

// entryImage is an entry as go-containerregistry writes it: the manifest,
// the empty config and the layer.
type entryImage struct {
	raw []byte
	l   v1.Layer
}

func (e *entryImage) RawConfigFile() ([]byte, error)      { return []byte(emptyConfig), nil }
func (e *entryImage) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (e *entryImage) RawManifest() ([]byte, error)        { return e.raw, nil }

func (e *entryImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if d, err := e.l.Digest(); err == nil && d == h {
		return e.l, nil
	}
	if h == emptyDescriptor().Digest {
		return partial.ConfigLayer(e)
	}
	return nil, fmt.Errorf("registry: layer cache entry has no blob %s", h)
}

// Prune deletes the entries stored more than olderThan ago, and returns
// how many it deleted. It lists the repository's tags, reads the manifest
// of each entry (tags starting with [LayerCacheTagPrefix] whose manifest
// has the cache's artifactType; other tags are left alone) and deletes the
// old ones, by tag and by digest. The registry must allow deleting
// manifests (Docker Distribution: REGISTRY_STORAGE_DELETE_ENABLED=true);
// the space is freed by its garbage collection.
func (lc *LayerCache) Prune(ctx context.Context, olderThan time.Duration) (deleted int, err error) {
	if olderThan < 0 {
		return 0, fmt.Errorf("registry: pruning layer cache %s: negative age %v", lc.repo, olderThan)
	}
	c, err := newCall(ctx, lc.opts)
	if err != nil {
		return 0, err
	}
	tags, err := remote.List(lc.repo, c.remoteOptions()...)
	if isNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, c.explain("listing layer cache", lc.repo.Tag("latest"), err)
	}
	cutoff := lc.now().Add(-olderThan)
	for _, t := range tags {
		if !strings.HasPrefix(t, LayerCacheTagPrefix) {
			continue
		}
		tag := lc.repo.Tag(t)
		old, digest, err := lc.stale(c, tag, cutoff)
		if err != nil {
			return deleted, err
		}
		if !old {
			continue
		}
		if err := lc.delete(c, tag, digest); err != nil {
			return deleted, err
		}
		deleted++
	}
	return deleted, nil
}

// stale reports whether tag is an entry stored before cutoff, and its
// manifest's digest.
func (lc *LayerCache) stale(c *call, tag name.Tag, cutoff time.Time) (bool, v1.Hash, error) {
	desc, err := remote.Get(tag, c.remoteOptions()...)
	if isNotFound(err) {
		return false, v1.Hash{}, nil // deleted meanwhile
	}
	if err != nil {
		return false, v1.Hash{}, c.explain("pruning layer cache", tag, err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
	if err != nil || m.ArtifactType != LayerCacheArtifactType {
		return false, v1.Hash{}, nil // not an entry
	}
	created, err := time.Parse(time.RFC3339, m.Annotations[createdAnnotation])
	if err != nil {
		return false, v1.Hash{}, nil // not an entry either
	}
	return created.Before(cutoff), desc.Digest, nil
}

// delete deletes an entry: its tag (which not every registry supports),
// then its manifest.
func (lc *LayerCache) delete(c *call, tag name.Tag, digest v1.Hash) error {
	_ = remote.Delete(tag, c.remoteOptions()...)
	ref := lc.repo.Digest(digest.String())
	if err := remote.Delete(ref, c.remoteOptions()...); err != nil && !isNotFound(err) {
		var terr *transport.Error
		if errors.As(err, &terr) && (terr.StatusCode == http.StatusMethodNotAllowed || terr.StatusCode == http.StatusNotImplemented) {
			err = fmt.Errorf("the registry does not allow deleting manifests (Docker Distribution: set REGISTRY_STORAGE_DELETE_ENABLED=true): %w", err)
		}
		return c.explain("pruning layer cache", ref, err)
	}
	return nil
}
