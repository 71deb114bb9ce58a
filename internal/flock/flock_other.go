//go:build !(darwin || dragonfly || freebsd || illumos || linux || netbsd || openbsd)

// Package flock holds the file locks the project shares between
// processes. This platform has no flock(2): locks do nothing, and whether
// a file is abandoned cannot be told (callers fall back to its age).
package flock

import (
	"errors"
	"os"
)

// Supported reports whether processes exclude each other with these locks.
const Supported = false

// ErrUnsupported is returned by Abandoned.
var ErrUnsupported = errors.New("file locks are not supported on this platform")

// Lock does nothing here.
func Lock(*os.File, bool) error { return nil }

// Hold does nothing here.
func Hold(*os.File) error { return nil }

// Abandoned cannot tell here.
func Abandoned(string) (bool, error) { return false, ErrUnsupported }
