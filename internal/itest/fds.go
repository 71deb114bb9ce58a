package itest

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// OpenFDs counts this process's open descriptors on files in dir,
// unlinked ones included (Linux: /proc/self/fd). Elsewhere it skips the
// test.
func OpenFDs(t testing.TB, dir string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot list descriptors: %v", err)
	}
	n := 0
	for _, e := range ents {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(target, dir+"/") {
			n++
		}
	}
	return n
}

// DirNames lists the names in dir, sorted (nil when it is empty).
func DirNames(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}
