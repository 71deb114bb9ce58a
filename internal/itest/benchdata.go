package itest

import (
	"os"
	"path/filepath"
)

// BenchData is the directory benchmarks generate their data into once
// and keep for later runs: $STEVEDORE_BENCH_DATA, else stevedore-bench
// in the user's cache directory (os.UserCacheDir: ~/.cache on Linux),
// else in os.TempDir. It is a cache, not a temp file: it stays out of
// TMPDIR where it can.
func BenchData() string {
	if d := os.Getenv("STEVEDORE_BENCH_DATA"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "stevedore-bench")
	}
	return filepath.Join(os.TempDir(), "stevedore-bench")
}
