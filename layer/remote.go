package layer

import (
	"context"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// RemoteCache is a store of built layers that several machines share,
// keyed by the layers' content keys (see WithCache): a layer built on one
// machine is found by every other machine that builds the same inputs,
// from any checkout of them. Package registry implements it on an OCI
// repository (registry.NewLayerCache). Its methods may be called by
// several goroutines at once.
type RemoteCache interface {
	// Lookup returns the layer stored under key, and ok false when there
	// is none. It must not read the layer's blob: the layer's Digest,
	// DiffID, Size and MediaType answer from what the store recorded, and
	// its Compressed reads the blob only when called, possibly after ctx
	// (which bounds the lookup) is done. An error means the store could
	// not answer; the layer is then built and not stored.
	Lookup(ctx context.Context, key string) (l v1.Layer, ok bool, err error)
	// Put stores the built layer l under key and returns it as stored (as
	// Lookup would return it). Besides v1.Layer, l has the methods
	// CreatedBy() string (see Describer), UncompressedSize() int64 (the
	// size of its tar stream) and GoBinaries() ([]byte, bool) (an opaque
	// record of the Go executables it holds, for Recorder), for the
	// store's records. A store that keeps the last one returns it from
	// the method of the same name of the layers Lookup returns, so that
	// the facts of a layer found there cost no download.
	Put(ctx context.Context, key string, l v1.Layer) (v1.Layer, error)
}

// Shared is implemented by the layers of this package. SharedLayer
// builds the layer if needed and returns it as the remote cache of
// WithRemoteCache holds it, when the build found it there or stored it
// there; otherwise (no remote cache, a failed build, a store that could
// not be reached) it returns nil. Package registry's Push uses it to
// mount the blob from the cache repository instead of uploading it.
type Shared interface {
	v1.Layer
	SharedLayer() v1.Layer
}

// cacheShare is how a layer uses its caches besides the directory.
type cacheShare struct {
	limit  int64 // WithCacheLimit; 0: none
	remote RemoteCache
	events func(CacheEvent)
}

// WithRemoteCache shares built layers through rc, for example an OCI
// repository (registry.NewLayerCache): when the local cache (WithCache)
// does not have a layer, or there is none, the layer's content key is
// looked up in rc. On a hit nothing is built and no blob is downloaded:
// the layer's digests and size come from rc's record, and its bytes are
// read from rc only if somebody reads them (registry.Push mounts them
// from the cache repository instead). On a miss the layer is built as
// usual, then stored in rc. A store that cannot be reached or refuses
// the layer never fails the build: it is reported as a RemoteFailed
// event (see WithCacheEvents). A layer found in the local cache costs no
// request to rc. Sources that cannot be keyed (a URL without WithSHA256)
// bypass rc too. The default is no remote cache.
func WithRemoteCache(rc RemoteCache) LayerOption {
	return func(o *layerOptions) error {
		if rc == nil {
			return optErr("WithRemoteCache", "nil cache")
		}
		o.share.remote = rc
		return nil
	}
}

// SharedLayer implements Shared.
func (l *layer) SharedLayer() v1.Layer {
	if err := l.Compute(context.Background()); err != nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stored
}

// fromRemote looks key up in the remote cache. hit reports that the
// layer is served from there; store that it is worth storing the layer
// there after the build (the store answered, and did not have it).
func (l *layer) fromRemote(ctx context.Context, key string) (hit, store bool) {
	rc := l.share.remote
	if rc == nil {
		return false, false
	}
	sl, ok, err := rc.Lookup(ctx, key)
	switch {
	case err != nil:
		l.report(CacheEvent{Kind: RemoteFailed, Key: key, Err: fmt.Errorf("looking up the layer: %w", err)})
		return false, false
	case !ok:
		l.report(CacheEvent{Kind: RemoteMiss, Key: key})
		return false, true
	}
	res, err := l.storedResult(sl)
	if err != nil {
		// A record this layer cannot use: build, and replace it.
		l.report(CacheEvent{Kind: RemoteFailed, Key: key, Err: err})
		return false, true
	}
	l.res, l.blob, l.stored = res, remoteBlob{sl}, sl
	l.report(CacheEvent{Kind: RemoteHit, Key: key, Digest: res.digest})
	return true, false
}

// storedResult reads what a stored layer's record says, and checks that
// its compression is the layer's.
func (l *layer) storedResult(sl v1.Layer) (result, error) {
	var res result
	var err error
	if res.digest, err = sl.Digest(); err != nil {
		return result{}, fmt.Errorf("stored layer: digest: %w", err)
	}
	if res.diffID, err = sl.DiffID(); err != nil {
		return result{}, fmt.Errorf("stored layer %s: diff ID: %w", res.digest, err)
	}
	if res.size, err = sl.Size(); err != nil {
		return result{}, fmt.Errorf("stored layer %s: size: %w", res.digest, err)
	}
	mt, err := sl.MediaType()
	if err != nil {
		return result{}, fmt.Errorf("stored layer %s: media type: %w", res.digest, err)
	}
	// The same bytes serve both media-type families (a Docker gzip layer
	// is an OCI gzip layer), as with the local cache: the layer keeps its
	// own media type.
	if c, ok := mediaTypeCompression(mt); !ok || c.blobFormat() != l.comp.blobFormat() {
		return result{}, fmt.Errorf("stored layer %s has media type %s, want a %v layer (%s)", res.digest, mt, l.comp, l.mediaType)
	}
	if d, err := partial.Descriptor(sl); err == nil {
		res.annotations = d.Annotations
	}
	if l.lazy() && res.annotations == nil {
		return result{}, fmt.Errorf("stored layer %s has no annotations: a %v layer needs its TOC's", res.digest, l.comp)
	}
	return res, nil
}

// toRemote stores the built layer in the remote cache.
func (l *layer) toRemote(ctx context.Context, key string) {
	sl, err := l.share.remote.Put(ctx, key, builtLayer{l})
	if err != nil {
		l.report(CacheEvent{Kind: RemoteFailed, Key: key, Digest: l.res.digest, Err: fmt.Errorf("storing the layer: %w", err)})
		return
	}
	l.stored = sl
	l.report(CacheEvent{Kind: RemoteStored, Key: key, Digest: l.res.digest})
}

// remoteBlob serves the blob of a layer found in the remote cache.
type remoteBlob struct{ sl v1.Layer }

func (b remoteBlob) open(*layer) (io.ReadCloser, error) { return b.sl.Compressed() }

// builtLayer is what RemoteCache.Put is given: the layer just built, read
// without the lock its build holds.
type builtLayer struct{ l *layer }

var (
	_ v1.Layer  = builtLayer{}
	_ Describer = builtLayer{}
)

func (b builtLayer) Digest() (v1.Hash, error)            { return b.l.res.digest, nil }
func (b builtLayer) DiffID() (v1.Hash, error)            { return b.l.res.diffID, nil }
func (b builtLayer) Size() (int64, error)                { return b.l.res.size, nil }
func (b builtLayer) MediaType() (types.MediaType, error) { return b.l.mediaType, nil }
func (b builtLayer) CreatedBy() string                   { return b.l.createdBy }
func (b builtLayer) UncompressedSize() int64             { return b.l.res.tarSize }

// Annotations are the layer's descriptor annotations (Annotated), kept
// with the stored entry.
func (b builtLayer) Annotations() (map[string]string, error) { return b.l.res.annotations, nil }

func (b builtLayer) Compressed() (io.ReadCloser, error) { return b.l.blob.open(b.l) }

// GoBinaries is the record of the Go executables the build found (see
// RemoteCache.Put); ok is false when the layer was not written here.
func (b builtLayer) GoBinaries() (record []byte, ok bool) {
	if !b.l.res.scanned {
		return nil, false
	}
	return encodeBinaries(b.l.res.bins), true
}

func (b builtLayer) Uncompressed() (io.ReadCloser, error) {
	rc, err := b.Compressed()
	if err != nil {
		return nil, err
	}
	return b.l.decompress(rc)
}
