//go:build darwin || dragonfly || freebsd || illumos || linux || netbsd || openbsd

// Package flock holds the file locks the project shares between
// processes: a file being written is locked by its writer, so a file that
// nobody holds is known to be abandoned by a process that died.
package flock

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// Supported reports whether processes exclude each other with these locks.
const Supported = true

// Lock applies flock(2) to f, shared or exclusive, waiting for it, retrying
// on EINTR. The lock belongs to f's open file description, so it excludes
// other goroutines of this process that opened the file separately, and
// the kernel drops it when the process dies or f is closed.
func Lock(f *os.File, exclusive bool) error {
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	return flock(f, how)
}

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

// Hold marks f, a file being written, as held by a live writer.
func Hold(f *os.File) error {
	if err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return fmt.Errorf("locking %s: %w", f.Name(), err)
	}
	return nil
}

// Abandoned reports whether no live writer holds the file at path. It
// returns an error when that cannot be told (for example when the file
// system does not support locks).
func Abandoned(path string) (bool, error) {
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
