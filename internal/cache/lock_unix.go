//go:build darwin || dragonfly || freebsd || illumos || linux || netbsd || openbsd

package cache

import (
	"fmt"
	"os"

	"github.com/stevedore-dev/stevedore/internal/flock"
)

// haveLocks reports whether processes sharing a cache exclude each other.
const haveLocks = true

// lock takes the cache-wide lock file, shared or exclusive, and returns the
// function that releases it.
func (c *Cache) lock(exclusive bool) (unlock func(), err error) {
	f, err := os.OpenFile(c.lockPath(), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cache: opening lock file: %w", err)
	}
	if err := flock.Lock(f, exclusive); err != nil {
		f.Close()
		return nil, fmt.Errorf("cache: locking %s: %w", f.Name(), err)
	}
	return func() { f.Close() }, nil // closing releases the lock
}

// lockTemp marks the temporary file f as held by a live writer.
func lockTemp(f *os.File) error {
	if err := flock.Hold(f); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	return nil
}

// abandoned reports whether no live writer holds the temporary file at path.
func abandoned(path string) (bool, error) { return flock.Abandoned(path) }

// syncDir flushes the directory entries of dir to stable storage, so that a
// rename into it survives a power loss.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return fmt.Errorf("cache: syncing directory %s: %w", dir, err)
	}
	return d.Close()
}
