package cache

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Prune evicts least recently used entries (by their last Get or Commit)
// until the blobs still referenced take at most limit bytes; Prune(0) empties
// the cache. It also removes entries that are invalid and blobs that no entry
// refers to (left by a crash between the two renames of a Commit). A blob
// shared by several entries is removed only with the last of them. Prune
// holds the cache's lock, so it is safe beside other goroutines and
// processes using the cache.
func (c *Cache) Prune(limit int64) error {
	if limit < 0 {
		return fmt.Errorf("cache: prune limit %d is negative", limit)
	}
	unlock, err := c.lock(true)
	if err != nil {
		return err
	}
	defer unlock()
	return c.pruneLocked(limit, "")
}

type entryInfo struct {
	key   string
	path  string
	meta  Meta
	mtime time.Time
}

// entrySet is the result of a scan of the entries directory.
type entrySet struct {
	valid   []entryInfo
	invalid []string // paths of metadata files that cannot be decoded
}

func (s entrySet) uses(hex string) bool {
	return slices.ContainsFunc(s.valid, func(e entryInfo) bool { return e.meta.Digest.Hex == hex })
}

// scanEntries reads every metadata file. The caller holds the lock.
func (c *Cache) scanEntries() (entrySet, error) {
	var s entrySet
	dir := c.path(entriesDir)
	des, err := os.ReadDir(dir)
	if err != nil {
		return s, fmt.Errorf("cache: %w", err)
	}
	for _, de := range des {
		name := de.Name()
		key, ok := strings.CutSuffix(name, metaSuffix)
		if !ok || !de.Type().IsRegular() || validateKey(key) != nil {
			continue // not ours
		}
		p := filepath.Join(dir, name)
		info, err := de.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return s, fmt.Errorf("cache: %w", err)
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return s, fmt.Errorf("cache: %w", err)
		}
		m, err := decodeMeta(key, raw)
		if err != nil {
			s.invalid = append(s.invalid, p)
			continue
		}
		s.valid = append(s.valid, entryInfo{key: key, path: p, meta: m, mtime: info.ModTime()})
	}
	return s, nil
}

// scanBlobs returns the size of every blob file by hex digest.
func (c *Cache) scanBlobs() (map[string]int64, error) {
	des, err := os.ReadDir(c.path(blobsDir))
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	sizes := make(map[string]int64, len(des))
	for _, de := range des {
		if !de.Type().IsRegular() || validSHA256(hashOf(de.Name())) != nil {
			continue // not ours
		}
		info, err := de.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("cache: %w", err)
		}
		sizes[de.Name()] = info.Size()
	}
	return sizes, nil
}

// pruneLocked is Prune with the lock held. The entry of keep (if not empty)
// is not evicted, and when keep is set the entries are read only if the
// blobs exceed the limit.
func (c *Cache) pruneLocked(limit int64, keep string) error {
	sizes, err := c.scanBlobs()
	if err != nil {
		return err
	}
	var total int64
	for _, n := range sizes {
		total += n
	}
	if keep != "" && total <= limit {
		return nil
	}
	s, err := c.scanEntries()
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range s.invalid {
		errs = append(errs, removeFile(p))
	}
	refs := make(map[string]int)
	live := s.valid[:0]
	for _, e := range s.valid {
		if n, ok := sizes[e.meta.Digest.Hex]; !ok || n != e.meta.Size {
			errs = append(errs, removeFile(e.path)) // blob missing or truncated
			continue
		}
		refs[e.meta.Digest.Hex]++
		live = append(live, e)
	}
	total = 0
	for hex, n := range sizes {
		if refs[hex] == 0 {
			errs = append(errs, removeFile(c.blobPath(hex)))
			continue
		}
		total += n
	}
	slices.SortFunc(live, func(a, b entryInfo) int {
		return cmp.Or(a.mtime.Compare(b.mtime), strings.Compare(a.key, b.key))
	})
	for _, e := range live {
		if total <= limit {
			break
		}
		if e.key == keep {
			continue
		}
		errs = append(errs, removeFile(e.path))
		hex := e.meta.Digest.Hex
		if refs[hex]--; refs[hex] == 0 {
			errs = append(errs, removeFile(c.blobPath(hex)))
			total -= sizes[hex]
		}
	}
	errs = append(errs, syncDir(c.path(entriesDir)), syncDir(c.path(blobsDir)))
	return errors.Join(errs...)
}

// cleanTemp removes temporary files that no live writer holds, and those
// older than the maximum temp age.
func (c *Cache) cleanTemp() error {
	unlock, err := c.lock(true)
	if err != nil {
		return err
	}
	defer unlock()
	dir := c.path(tmpDir)
	des, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	var errs []error
	for _, de := range des {
		p := filepath.Join(dir, de.Name())
		info, err := de.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("cache: %w", err))
			continue
		}
		old := time.Since(info.ModTime()) > c.opts.tempMaxAge
		if !info.Mode().IsRegular() {
			if old {
				errs = append(errs, removeAll(p))
			}
			continue
		}
		gone, err := abandoned(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if gone || old {
			errs = append(errs, removeFile(p))
		}
	}
	return errors.Join(errs...)
}

func removeAll(p string) error {
	if err := os.RemoveAll(p); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	return nil
}

func hashOf(hex string) v1.Hash { return v1.Hash{Algorithm: "sha256", Hex: hex} }
