package layer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"sync"

	"github.com/stevedore-dev/stevedore/internal/cache"
	"github.com/stevedore-dev/stevedore/internal/fstree"
	"github.com/stevedore-dev/stevedore/internal/tarx"
)

// keyVersion names the format of layer cache keys and of the bytes they
// map to; change it whenever either changes.
const keyVersion = "layer/v5"

// buildCached serves the layer from the local cache, else from the
// remote cache, else builds it (into the local cache when there is one)
// and stores it in the remote cache. A source that cannot be keyed (a URL
// without WithSHA256) makes the layer bypass both caches.
func (l *layer) buildCached(ctx context.Context, preps []*prepared) error {
	var c *cache.Cache
	if l.cacheDir != "" {
		var err error
		if c, err = l.localCache(); err != nil {
			return fmt.Errorf("opening layer cache: %w", err)
		}
	}
	key, ok, err := l.cacheKey(ctx, c, preps)
	if err != nil {
		return fmt.Errorf("building layer (%s): computing cache key: %w", l.createdBy, err)
	}
	if !ok {
		return l.buildSpool(ctx, preps)
	}
	if c != nil {
		if e, err := c.Get(key); err == nil {
			// An entry evicted since Get is a miss.
			if held, err := holdBlob(e); err == nil {
				l.res = result{digest: e.Digest, diffID: e.DiffID, size: e.Size, annotations: e.Annotations}
				l.blob = &cacheBlob{entry: e, held: held}
				l.hit = true
				l.report(CacheEvent{Kind: CacheHit, Key: key, Digest: e.Digest})
				return nil
			}
		}
		// Any lookup failure is a miss: the build below replaces the entry.
		l.report(CacheEvent{Kind: CacheMiss, Key: key})
	}
	hit, store := l.fromRemote(ctx, key)
	if hit {
		l.hit = true
		return nil
	}
	if c == nil {
		err = l.buildSpool(ctx, preps)
	} else {
		var b *cacheBlob
		var res result
		var files []tarx.Node
		if b, res, files, err = l.buildEntry(ctx, c, key, preps); err == nil {
			l.res, l.files, l.blob = res, l.written(files), b
		}
	}
	if err != nil {
		return err
	}
	if store {
		l.toRemote(ctx, key)
	}
	return nil
}

// localCache returns the local cache, with the limit of WithCacheLimit:
// opened (which creates its directories and clears stale temp files) on
// first use, and kept for the layer's later reads.
func (l *layer) localCache() (*cache.Cache, error) {
	l.cacheMu.Lock()
	defer l.cacheMu.Unlock()
	if l.cache != nil {
		return l.cache, nil
	}
	var opts []cache.Option
	if l.share.limit > 0 {
		opts = append(opts, cache.WithLimit(l.share.limit))
	}
	c, err := cache.Open(l.cacheDir, opts...)
	if err != nil {
		return nil, err
	}
	l.cache = c
	return c, nil
}

// buildEntry builds the layer into a new cache entry of key, and keeps
// the list of its files beside it. The blob returned holds the entry's
// file (see heldBlob), opened before the commit: a prune by another
// process, or the commits of the records stored after it, may evict the
// entry at once (WithCacheLimit).
func (l *layer) buildEntry(ctx context.Context, c *cache.Cache, key string, preps []*prepared) (*cacheBlob, result, []tarx.Node, error) {
	w, err := c.NewWriter()
	if err != nil {
		return nil, result{}, nil, fmt.Errorf("building layer (%s): %w", l.createdBy, err)
	}
	res, files, err := l.produce(ctx, w, preps)
	if err != nil {
		return nil, result{}, nil, errors.Join(err, w.Abort())
	}
	// Unsynced: waiting for the blob to reach the disk (150 ms for the Go
	// release's 70 MB) would hold back the next layer and the push, and
	// buys nothing but fewer rebuilds after a power loss. A blob a crash
	// tore is found out before it is served: a later process verifies
	// every entry it hits before its first read (cacheBlob.open), and
	// rebuilds a corrupt one.
	var held *heldBlob
	if unlinkOpenFiles {
		f, err := w.OpenBlob()
		if err != nil {
			return nil, result{}, nil, errors.Join(fmt.Errorf("building layer (%s): %w", l.createdBy, err), w.Abort())
		}
		held = newHeldBlob(f)
	}
	e, err := w.CommitUnsynced(key, cache.Meta{
		Digest: res.digest, DiffID: res.diffID, Size: res.size,
		MediaType: l.mediaType, CreatedBy: l.createdBy, Annotations: res.annotations,
	})
	if err != nil {
		return nil, result{}, nil, fmt.Errorf("building layer (%s): %w", l.createdBy, err)
	}
	// The Go executables found, for Facts on a later hit.
	_ = storeBinaries(c, res.diffID, res.bins)
	// The list is an optimisation for a later layer placed on this one:
	// without it, the blob is read back (a lazy format's, which lists its
	// entries at its end, always is: see written).
	if !l.lazy() {
		_ = fstree.Store(c, fstree.Written, res.diffID, files)
	}
	return &cacheBlob{entry: e, held: held, verified: true}, res, files, nil
}

// cacheKey hashes everything that determines the layer's bytes. ok is
// false when a source cannot be keyed without reading it (a URL without
// WithSHA256). c, when not nil, remembers the content hashes of sources
// by their stat keys.
func (l *layer) cacheKey(ctx context.Context, c *cache.Cache, preps []*prepared) (key string, ok bool, err error) {
	k := cache.NewKey(keyVersion)
	k.AddString(l.comp.String()).AddInt(int64(l.level)).AddInt(int64(len(l.srcs)))
	if len(l.prioritized) > 0 { // EStargz and ZstdChunked only
		k.AddString("prioritized").AddStrings(l.prioritized...)
	}
	if b := l.placement.Base; b != nil {
		k.AddString("base").AddString(b.ID())
	}
	k.AddBool(l.placement.SkipUnchanged)
	for i, s := range l.srcs {
		preps[i].sums = sumMemo{c}
		if ok, err := s.key(ctx, k, preps[i]); err != nil || !ok {
			return "", false, err
		}
	}
	return k.Sum(), true, nil
}

// loadFiles returns the entries of a layer served from the cache: from
// the list kept beside it, or by reading the blob.
func (l *layer) loadFiles(ctx context.Context) ([]Node, error) {
	if l.cacheDir != "" {
		if c, err := l.localCache(); err == nil {
			if ns, ok := fstree.Load(c, fstree.Written, l.res.diffID); ok {
				return nodesOf(ns), nil
			}
		}
	}
	if l.lazy() {
		return l.lazyFiles()
	}
	rc, err := l.blob.open(l)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	zr, err := compressReader(rc, l.comp)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	ns, err := fstree.Index(ctx, zr)
	if err != nil {
		return nil, err
	}
	if l.cacheDir != "" {
		if c, err := l.localCache(); err == nil {
			_ = fstree.Store(c, fstree.Written, l.res.diffID, ns)
		}
	}
	return nodesOf(ns), nil
}

// cacheBlob serves a cache entry. A hit's blob is checked once before its
// bytes are first served; a corrupt or vanished entry is rebuilt (and must
// come out with the digest already reported).
type cacheBlob struct {
	entry    *cache.Entry
	held     *heldBlob // the entry's file, held open; nil where it cannot be
	verified bool      // built by this process: no need to verify

	once sync.Once
	err  error
}

func (b *cacheBlob) open(l *layer) (io.ReadCloser, error) {
	if !b.verified {
		b.once.Do(func() { b.err = b.verify(l) })
		if b.err != nil {
			return nil, b.err
		}
	}
	if h := b.held; h != nil {
		return &heldReader{SectionReader: io.NewSectionReader(h.f, 0, b.entry.Size), h: h}, nil
	}
	return os.Open(b.entry.Path)
}

func (b *cacheBlob) verify(l *layer) error {
	err := b.check()
	if err == nil {
		return nil
	}
	if !errors.Is(err, cache.ErrCorrupt) && !errors.Is(err, cache.ErrMiss) {
		return fmt.Errorf("verifying cached layer (%s): %w", l.createdBy, err)
	}
	// Open the cache afresh: its directories may have gone with the entry.
	l.cacheMu.Lock()
	l.cache = nil
	l.cacheMu.Unlock()
	c, err := l.localCache()
	if err != nil {
		return fmt.Errorf("rebuilding corrupt cached layer (%s): %w", l.createdBy, err)
	}
	preps := make([]*prepared, len(l.srcs))
	for i, s := range l.srcs {
		if preps[i], err = s.prepare(); err != nil {
			return err
		}
	}
	key, _, err := l.cacheKey(l.ctx, c, preps)
	if err != nil {
		return err
	}
	nb, res, _, err := l.buildEntry(l.ctx, c, key, preps)
	if err != nil {
		return fmt.Errorf("rebuilding corrupt cached layer: %w", err)
	}
	if res.digest != l.res.digest || res.diffID != l.res.diffID {
		return fmt.Errorf("rebuilding corrupt cached layer (%s): rebuilt digest %s differs from %s: %w", l.createdBy, res.digest, l.res.digest, ErrChanged)
	}
	b.entry, b.held = nb.entry, nb.held
	return nil
}

// check verifies the blob held (else the entry's file) against the
// entry: an error wrapping cache.ErrCorrupt or cache.ErrMiss calls for a
// rebuild. The entry of a corrupt blob is removed from the cache.
func (b *cacheBlob) check() error {
	if b.held == nil {
		return b.entry.Verify()
	}
	return b.entry.VerifyFile(b.held.f)
}

// heldBlob is a cache entry's blob file held open, so that an eviction
// of the entry (WithCacheLimit, PruneCache, another process) leaves its
// bytes to the layer that reported its digest. The descriptor is closed
// when the layer and its readers are gone.
type heldBlob struct{ f *os.File }

// holdBlob opens the blob of e to hold it; where an open file cannot be
// removed (Windows), it holds nothing (nil), and each read opens the
// blob's path.
func holdBlob(e *cache.Entry) (*heldBlob, error) {
	if !unlinkOpenFiles {
		return nil, nil
	}
	f, err := os.Open(e.Path)
	if err != nil {
		return nil, err
	}
	return newHeldBlob(f), nil
}

// newHeldBlob holds f, closed once the heldBlob is unreachable.
func newHeldBlob(f *os.File) *heldBlob {
	h := &heldBlob{f: f}
	runtime.AddCleanup(h, func(f *os.File) { f.Close() }, f)
	return h
}

// heldReader reads a heldBlob (ReadAt included: an eStargz layer's
// table of contents is read so) and keeps it open while in use.
type heldReader struct {
	*io.SectionReader
	h *heldBlob
}

func (r *heldReader) Close() error { return nil }

// WithCacheLimit bounds the size of the blobs kept in the cache directory
// of WithCache to maxBytes: after each layer is stored, the least recently
// used entries are removed until the rest fit (the entry just stored
// stays, even alone over the limit). It needs WithCache. The default is
// no limit: the directory grows until PruneCache is run.
func WithCacheLimit(maxBytes int64) LayerOption {
	return func(o *layerOptions) error {
		if maxBytes <= 0 {
			return optErr("WithCacheLimit", "limit %d is not positive", maxBytes)
		}
		o.share.limit = maxBytes
		return nil
	}
}

// PruneCache removes the least recently used entries of the layer cache
// in dir (see WithCache) until its blobs take at most maxBytes;
// PruneCache(dir, 0) empties it. It also removes what a crashed process
// left behind. It is safe while other processes use the cache. A dir that
// does not exist is left alone.
func PruneCache(dir string, maxBytes int64) error {
	if dir == "" || maxBytes < 0 {
		return fmt.Errorf("%w: PruneCache(%q, %d): want a directory and a limit >= 0", ErrInvalidOption, dir, maxBytes)
	}
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	c, err := cache.Open(dir)
	if err != nil {
		return fmt.Errorf("pruning layer cache: %w", err)
	}
	if err := c.Prune(maxBytes); err != nil {
		return fmt.Errorf("pruning layer cache: %w", err)
	}
	return nil
}
