package cli

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// DemoDir makes a temporary directory, its name starting with prefix, and
// has write fill it: the examples' generated demos. It returns the
// directory and the function that removes it; after an error, nothing is
// left behind.
func DemoDir(prefix string, write func(dir string) error) (dir string, remove func(), err error) {
	dir, err = os.MkdirTemp("", prefix)
	if err != nil {
		return "", nil, err
	}
	remove = func() { os.RemoveAll(dir) }
	if err := write(dir); err != nil {
		remove()
		return "", nil, err
	}
	return dir, remove, nil
}

// WriteFiles writes a small tree for the examples' demos and tests into
// dir: path -> content. A path ending in "/" is a directory; content
// "-> TARGET" makes a symlink; content starting with "#!" makes an
// executable (0755), any other a 0644 file; directories are 0755, whatever
// the umask.
func WriteFiles(dir string, files map[string]string) error {
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if target, ok := strings.CutPrefix(content, "-> "); ok {
			if err := os.Symlink(target, p); err != nil {
				return err
			}
			continue
		}
		mode := os.FileMode(0o644)
		if strings.HasPrefix(content, "#!") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			return err
		}
		if err := os.Chmod(p, mode); err != nil { // WriteFile's mode is subject to the umask
			return err
		}
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			err = os.Chmod(p, 0o755)
		}
		return err
	})
}
