package layer

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// CacheEventKind says what a CacheEvent reports.
type CacheEventKind int

// Kinds of cache events.
const (
	// CacheHit: the layer was found in the local cache (WithCache).
	CacheHit CacheEventKind = iota + 1
	// CacheMiss: the local cache did not have the layer.
	CacheMiss
	// RemoteHit: the remote cache (WithRemoteCache) had the layer; its
	// blob was not downloaded.
	RemoteHit
	// RemoteMiss: the remote cache did not have the layer; it is built,
	// then stored there.
	RemoteMiss
	// RemoteStored: the layer just built was stored in the remote cache.
	RemoteStored
	// RemoteFailed: the remote cache could not be reached, refused a
	// request, or held a record this layer cannot use (Err says which).
	// The build goes on without it: this is a warning, never an error of
	// the build.
	RemoteFailed
)

var cacheEventNames = map[CacheEventKind]string{
	CacheHit: "cache hit", CacheMiss: "cache miss",
	RemoteHit: "remote cache hit", RemoteMiss: "remote cache miss",
	RemoteStored: "stored in remote cache", RemoteFailed: "remote cache failed",
}

// String returns "cache hit", "remote cache miss", and so on.
func (k CacheEventKind) String() string {
	if s, ok := cacheEventNames[k]; ok {
		return s
	}
	return fmt.Sprintf("CacheEventKind(%d)", int(k))
}

// CacheEvent reports what the caches did for one layer (see
// WithCacheEvents).
type CacheEvent struct {
	Kind CacheEventKind
	// Layer describes the layer, as its CreatedBy does ("stevedore: dir
	// -> /app").
	Layer string
	// Key is the layer's cache key.
	Key string
	// Digest is the layer's digest, on hits and when it was stored.
	Digest v1.Hash
	// Err says why, for RemoteFailed.
	Err error
}

// String describes the event on one line, for a log.
func (e CacheEvent) String() string {
	s := e.Kind.String() + ": " + e.Layer
	if e.Digest != (v1.Hash{}) {
		s += " (" + e.Digest.String() + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// WithCacheEvents calls f with what the caches do for the layer: hits and
// misses of the local and remote caches, layers stored in the remote
// cache, and remote cache failures, which are warnings (the build goes
// on). f is called during the build, possibly from several goroutines
// when several layers are built at once; it must be quick and safe for
// concurrent use. The default is to report nothing.
func WithCacheEvents(f func(CacheEvent)) LayerOption {
	return func(o *layerOptions) error {
		if f == nil {
			return optErr("WithCacheEvents", "nil function")
		}
		o.share.events = f
		return nil
	}
}

// report passes e, about l, to the WithCacheEvents function.
func (l *layer) report(e CacheEvent) {
	if f := l.share.events; f != nil {
		e.Layer = l.createdBy
		f(e)
	}
}
