package layer

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/stevedore-dev/stevedore/internal/cache"
	"github.com/stevedore-dev/stevedore/internal/tarx"
)

// keyVersion names the format of layer cache keys and of the bytes they
// map to; change it whenever either changes.
const keyVersion = "layer/v1"

type cacheEntry = *cache.Entry

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
		l.digest, l.diffID, l.size = e.Digest, e.DiffID, e.Size
		l.blob = &blob{path: e.Path, entry: e}
		l.hit = true
		return nil
	}
	// Any lookup failure is a miss: the build below replaces the entry.
	e, res, err := l.buildEntry(ctx, c, key, preps)
	if err != nil {
		return err
	}
	l.setResult(res)
	l.blob = &blob{path: e.Path, entry: e, verified: true}
	return nil
}

// buildEntry builds the layer into a new cache entry of key.
func (l *layer) buildEntry(ctx context.Context, c *cache.Cache, key string, preps []*prepared) (*cache.Entry, result, error) {
	w, err := c.NewWriter()
	if err != nil {
		return nil, result{}, fmt.Errorf("building layer (%s): %w", l.createdBy, err)
	}
	res, err := l.produce(ctx, w, preps)
	if err != nil {
		return nil, result{}, errors.Join(err, w.Abort())
	}
	e, err := w.Commit(key, cache.Meta{
		Digest: res.digest, DiffID: res.diffID, Size: res.size,
		MediaType: l.mediaType, CreatedBy: l.createdBy,
	})
	if err != nil {
		return nil, result{}, fmt.Errorf("building layer (%s): %w", l.createdBy, err)
	}
	return e, res, nil
}

// verified checks a cache hit's blob once before its bytes are first
// served; a corrupt or vanished entry is rebuilt (and must come out with
// the digest already reported).
func (l *layer) verified() error {
	b := l.blob
	if b.entry == nil || b.verified {
		return nil
	}
	b.verifyOnce.Do(func() {
		err := b.entry.Verify()
		if err == nil {
			return
		}
		if !errors.Is(err, cache.ErrCorrupt) && !errors.Is(err, cache.ErrMiss) {
			b.verifyErr = fmt.Errorf("verifying cached layer (%s): %w", l.createdBy, err)
			return
		}
		c, cerr := cache.Open(l.cacheDir)
		if cerr != nil {
			b.verifyErr = fmt.Errorf("rebuilding corrupt cached layer (%s): %w", l.createdBy, cerr)
			return
		}
		preps, perr := l.prepare()
		if perr != nil {
			b.verifyErr = perr
			return
		}
		key, _, kerr := l.cacheKey(l.ctx, preps)
		if kerr != nil {
			b.verifyErr = kerr
			return
		}
		e, res, rerr := l.buildEntry(l.ctx, c, key, preps)
		if rerr != nil {
			b.verifyErr = fmt.Errorf("rebuilding corrupt cached layer: %w", rerr)
			return
		}
		if res.digest != l.digest || res.diffID != l.diffID {
			b.verifyErr = fmt.Errorf("rebuilding corrupt cached layer (%s): rebuilt digest %s differs from %s (the source changed)", l.createdBy, res.digest, l.digest)
			return
		}
		b.path, b.entry = e.Path, e
	})
	return b.verifyErr
}

// cacheKey hashes everything that determines the layer's bytes. ok is
// false when a source cannot be keyed without reading it (a URL without
// WithSHA256).
func (l *layer) cacheKey(ctx context.Context, preps []*prepared) (key string, ok bool, err error) {
	k := cache.NewKey(keyVersion)
	k.AddString(l.comp.String()).AddInt(int64(l.level)).AddInt(int64(len(l.srcs)))
	for i, s := range l.srcs {
		p := preps[i]
		r := p.rules
		k.AddString(s.kind.String()).AddString(r.Root).AddInt(int64(r.Strip)).AddStrings(r.Only...)
		k.AddStrings(p.include...).AddStrings(p.exclude...)
		k.AddInt(p.modTime.Unix()).AddBool(p.override)
		k.AddInt(int64(r.UID)).AddInt(int64(r.GID)).AddBool(r.PreserveOwner)
		if c := s.opts.chmod; c != nil {
			k.AddString("chmod").AddString(c.spec) // only when set: other keys unchanged
		}
		if mp := s.opts.matchPrefix; mp != "" {
			k.AddString("match prefix").AddString(mp)
		}
		switch s.kind {
		case kindURL:
			if s.opts.sha256 == "" {
				return "", false, nil
			}
			k.AddString(s.opts.sha256).AddInt(s.opts.sizeLimit)
		case kindTarball:
			k.AddInt(s.opts.sizeLimit)
			if s.opts.sha256 != "" {
				k.AddString(s.opts.sha256)
				break
			}
			abs, err := filepath.Abs(s.name)
			if err != nil {
				return "", false, err
			}
			fi, err := os.Stat(abs)
			if err != nil {
				return "", false, fmt.Errorf("tarball: %w", err)
			}
			k.AddString(abs)
			addStat(k, fi)
		case kindDir:
			abs, err := filepath.Abs(s.name)
			if err != nil {
				return "", false, err
			}
			k.AddString(abs)
			root, err := os.OpenRoot(s.name)
			if err != nil {
				return "", false, fmt.Errorf("opening directory: %w", err)
			}
			w := &dirWalk{ctx: ctx, root: root, p: p, links: make(map[devIno]string),
				visit: func(rel string, fi fs.FileInfo, link string) error {
					k.AddString(rel).AddString(link)
					addStat(k, fi)
					return nil
				}}
			err = w.walk(".")
			root.Close()
			if err != nil {
				return "", false, fmt.Errorf("dir %s: %w", s.name, err)
			}
			k.AddString("end")
		case kindFS:
			w := &fsWalk{ctx: ctx, fsys: s.fsys, p: p, tw: func(hdr *tar.Header, open func() (io.ReadCloser, error)) error {
				if _, err := p.rules.Rewrite(hdr); tarx.Skipped(err) {
					return nil
				} else if err != nil {
					return err
				}
				k.AddString(hdr.Name).AddInt(hdr.Mode).AddString(string(hdr.Typeflag)).AddString(hdr.Linkname)
				if hdr.Typeflag != tar.TypeReg {
					return nil
				}
				rc, err := open()
				if err != nil {
					return err
				}
				defer rc.Close()
				return k.AddReader(hdr.Size, rc)
			}}
			if err := w.walk("."); err != nil {
				return "", false, fmt.Errorf("fs: %w", err)
			}
			k.AddString("end")
		case kindFiles:
			k.AddInt(int64(len(s.files)))
			for _, f := range s.files {
				k.AddString(f.Path).AddUint(uint64(f.Mode)).AddString(f.Linkname).AddInt(f.ModTime.Unix()).AddBool(f.ModTime.IsZero()).AddBytes(f.Data)
			}
		case kindDeletions:
			k.AddBool(s.opaque).AddStrings(s.paths...)
		case kindOwn:
			if ok, err := s.impl.key(ctx, s, k, p); err != nil || !ok {
				return "", false, err
			}
		}
	}
	return k.Sum(), true, nil
}

// addStat adds what a stat says about a file's content.
func addStat(k *cache.KeyBuilder, fi fs.FileInfo) {
	k.AddInt(fi.Size()).AddInt(fi.ModTime().UnixNano()).AddUint(uint64(fi.Mode()))
	ino, ctime := changeID(fi)
	k.AddUint(ino).AddInt(ctime)
}
