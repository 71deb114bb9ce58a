//go:build !(darwin || dragonfly || freebsd || illumos || linux || netbsd || openbsd)

package cache

import (
	"errors"
	"os"
	"sync"
)

// On platforms without flock(2) the cache is safe for concurrent goroutines
// of one process only, and Open removes temporary files by age alone.

const haveLocks = false

var processLock sync.RWMutex

var errNoLocks = errors.New("cache: file locks are not supported on this platform")

func (c *Cache) lock(exclusive bool) (unlock func(), err error) {
	if exclusive {
		processLock.Lock()
		return processLock.Unlock, nil
	}
	processLock.RLock()
	return processLock.RUnlock, nil
}

func lockTemp(*os.File) error { return nil }

func abandoned(string) (bool, error) { return false, errNoLocks }

func syncDir(string) error { return nil }
