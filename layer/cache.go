package layer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/stevedore-dev/stevedore/internal/cache"
	"github.com/stevedore-dev/stevedore/internal/fstree"
	"github.com/stevedore-dev/stevedore/internal/tarx"
)

// keyVersion names the format of layer cache keys and of the bytes they
// map to; change it whenever either changes.
const keyVersion = "layer/v2"

// buildCached serves the layer from the cache, or builds it into the
// cache. A source that cannot be keyed (a URL without WithSHA256) makes
// the layer bypass the cache.
func (l *layer) buildCached(ctx context.Context, preps []*prepared) error {
	c, err := cache.Open(l.cacheDir)
	if err != nil {
		return fmt.Errorf("opening layer cache: %w", err)
	}
	key, ok, err := l.cacheKey(ctx, preps)
	if err != nil {
		return fmt.Errorf("building layer (%s): computing cache key: %w", l.createdBy, err)
	}
	if !ok {
		return l.buildSpool(ctx, preps)
	}
	if e, err := c.Get(key); err == nil {
		l.res = result{digest: e.Digest, diffID: e.DiffID, size: e.Size, annotations: e.Annotations}
		l.blob = &cacheBlob{entry: e}
		l.hit = true
		return nil
	}
	// Any lookup failure is a miss: the build below replaces the entry.
	e, res, files, err := l.buildEntry(ctx, c, key, preps)
	if err != nil {
		return err
	}
	l.res, l.files = res, l.written(files)
	l.blob = &cacheBlob{entry: e, verified: true}
	return nil
}

// buildEntry builds the layer into a new cache entry of key, and keeps
// the list of its files beside it.
func (l *layer) buildEntry(ctx context.Context, c *cache.Cache, key string, preps []*prepared) (*cache.Entry, result, []tarx.Node, error) {
	w, err := c.NewWriter()
	if err != nil {
		return nil, result{}, nil, fmt.Errorf("building layer (%s): %w", l.createdBy, err)
	}
	res, files, err := l.produce(ctx, w, preps)
	if err != nil {
		return nil, result{}, nil, errors.Join(err, w.Abort())
	}
	e, err := w.Commit(key, cache.Meta{
		Digest: res.digest, DiffID: res.diffID, Size: res.size,
		MediaType: l.mediaType, CreatedBy: l.createdBy, Annotations: res.annotations,
	})
	if err != nil {
		return nil, result{}, nil, fmt.Errorf("building layer (%s): %w", l.createdBy, err)
	}
	// The list is an optimisation for a later layer placed on this one:
	// without it, the blob is read back (a lazy format's, which lists its
	// entries at its end, always is: see written).
	if !l.lazy() {
		_ = fstree.Store(c, fstree.Written, res.diffID, files)
	}
	return e, res, files, nil
}

// cacheKey hashes everything that determines the layer's bytes. ok is
// false when a source cannot be keyed without reading it (a URL without
// WithSHA256).
func (l *layer) cacheKey(ctx context.Context, preps []*prepared) (key string, ok bool, err error) {
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
		if c, err := cache.Open(l.cacheDir); err == nil {
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
		if c, err := cache.Open(l.cacheDir); err == nil {
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
	verified bool // built by this process: no need to verify

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
	return os.Open(b.entry.Path)
}

func (b *cacheBlob) verify(l *layer) error {
	err := b.entry.Verify()
	if err == nil {
		return nil
	}
	if !errors.Is(err, cache.ErrCorrupt) && !errors.Is(err, cache.ErrMiss) {
		return fmt.Errorf("verifying cached layer (%s): %w", l.createdBy, err)
	}
	c, err := cache.Open(l.cacheDir)
	if err != nil {
		return fmt.Errorf("rebuilding corrupt cached layer (%s): %w", l.createdBy, err)
	}
	preps := make([]*prepared, len(l.srcs))
	for i, s := range l.srcs {
		if preps[i], err = s.prepare(); err != nil {
			return err
		}
	}
	key, _, err := l.cacheKey(l.ctx, preps)
	if err != nil {
		return err
	}
	e, res, _, err := l.buildEntry(l.ctx, c, key, preps)
	if err != nil {
		return fmt.Errorf("rebuilding corrupt cached layer: %w", err)
	}
	if res.digest != l.res.digest || res.diffID != l.res.diffID {
		return fmt.Errorf("rebuilding corrupt cached layer (%s): rebuilt digest %s differs from %s (the source changed)", l.createdBy, res.digest, l.res.digest)
	}
	b.entry = e
	return nil
}
