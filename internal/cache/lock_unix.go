//go:build darwin || dragonfly || freebsd || illumos || linux || netbsd || openbsd

package cache

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// haveLocks reports whether processes sharing a cache exclude each other.
const haveLocks = true

// flock applies how (syscall.LOCK_EX, LOCK_SH, optionally | LOCK_NB) to f,
// retrying on EINTR. The lock belongs to f's open file description, so it
// excludes other goroutines of this process that opened the file separately,
// and the kernel drops it when the process dies.
func flock(f *os.File, how int) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		for {
			ferr = syscall.Flock(int(fd), how)
			if !errors.Is(ferr, syscall.EINTR) {
				return
			}
		}
	}); err != nil {
		return err
	}
	return ferr
}

// lock takes the cache-wide lock file, shared or exclusive, and returns the
// function that releases it.
func (c *Cache) lock(exclusive bool) (unlock func(), err error) {
	f, err := os.OpenFile(c.lockPath(), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cache: opening lock file: %w", err)
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	if err := flock(f, how); err != nil {
		f.Close()
		return nil, fmt.Errorf("cache: locking %s: %w", f.Name(), err)
	}
	return func() { f.Close() }, nil // closing releases the lock
}

// lockTemp marks the temporary file f as held by a live writer.
func lockTemp(f *os.File) error {
	if err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return fmt.Errorf("cache: locking %s: %w", f.Name(), err)
	}
	return nil
}

// abandoned reports whether no live writer holds the temporary file at path.
// It returns an error when that cannot be told (for example when the file
// system does not support locks).
func abandoned(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	err = flock(f, syscall.LOCK_EX|syscall.LOCK_NB)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, syscall.EWOULDBLOCK):
		return false, nil
	default:
		return false, err
	}
}

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
