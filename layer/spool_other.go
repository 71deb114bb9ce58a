//go:build !unix

package layer

import (
	"os"
	"path/filepath"
	"time"
)

// unlinkOpenFiles: an open file cannot be removed here (Windows).
const unlinkOpenFiles = false

// spoolMaxAge is the age past which a spool file left by a process that
// did not end cleanly is removed by the next spool.
const spoolMaxAge = 24 * time.Hour

// sweepSpools removes spool files in dir older than spoolMaxAge: a live
// process keeps its own open, and an open file cannot be removed here.
func sweepSpools(dir string) {
	if dir == "" {
		dir = os.TempDir()
	}
	old, _ := filepath.Glob(filepath.Join(dir, spoolPattern))
	for _, p := range old {
		if fi, err := os.Stat(p); err == nil && time.Since(fi.ModTime()) > spoolMaxAge {
			os.Remove(p)
		}
	}
}
