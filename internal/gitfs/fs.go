package gitfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// FS is a read-only io/fs view of a git tree object, read straight from
// the repository's object store: no checkout. It implements fs.ReadDirFS
// and fs.ReadLinkFS, so layer.FromFS keeps symlinks as symlinks. Modes are
// git's: directories 0755, files 0644, executables 0755, symlinks 0777.
// Submodules (gitlinks) have no content in the tree and are left out.
// An FS is safe for concurrent use (layer.FromFS reads files in
// parallel).
type FS struct {
	root *object.Tree
	// mu serialises lookups in root: go-git's Tree fills a map of its
	// entries on first use, which is not safe for concurrent use.
	mu *sync.Mutex
}

var (
	_ fs.ReadDirFS  = FS{}
	_ fs.ReadLinkFS = FS{}
)

// New returns the view of tree.
func New(tree *object.Tree) FS { return FS{root: tree, mu: new(sync.Mutex)} }

// locked runs f with the lookups in root serialised.
func (g FS) locked(f func()) {
	if g.mu != nil {
		g.mu.Lock()
		defer g.mu.Unlock()
	}
	f()
}

// entry finds name in the tree; "." is the root.
func (g FS) entry(op, name string) (*object.TreeEntry, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return &object.TreeEntry{Name: ".", Mode: filemode.Dir, Hash: g.root.Hash}, nil
	}
	var e *object.TreeEntry
	var err error
	g.locked(func() { e, err = g.root.FindEntry(name) })
	if err != nil {
		if errors.Is(err, object.ErrEntryNotFound) || errors.Is(err, object.ErrDirectoryNotFound) {
			err = fs.ErrNotExist
		}
		return nil, &fs.PathError{Op: op, Path: name, Err: err}
	}
	if e.Mode == filemode.Submodule {
		return nil, &fs.PathError{Op: op, Path: name, Err: fmt.Errorf("a submodule: %w", fs.ErrNotExist)}
	}
	return e, nil
}

// Lstat describes name without following a symlink.
func (g FS) Lstat(name string) (fs.FileInfo, error) {
	e, err := g.entry("lstat", name)
	if err != nil {
		return nil, err
	}
	return g.info(name, e)
}

// ReadLink returns the target of the symlink name.
func (g FS) ReadLink(name string) (string, error) {
	e, err := g.entry("readlink", name)
	if err != nil {
		return "", err
	}
	if e.Mode != filemode.Symlink {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	f, err := g.root.TreeEntryFile(e)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	target, err := f.Contents()
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: err}
	}
	return target, nil
}

// ReadDir lists the directory name, sorted by name.
func (g FS) ReadDir(name string) ([]fs.DirEntry, error) {
	t := g.root
	if name != "." {
		e, err := g.entry("readdir", name)
		if err != nil {
			return nil, err
		}
		if e.Mode != filemode.Dir {
			return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
		}
		g.locked(func() { t, err = g.root.Tree(name) })
		if err != nil {
			return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
		}
	}
	var ents []fs.DirEntry
	for i := range t.Entries {
		e := &t.Entries[i]
		if e.Mode == filemode.Submodule {
			continue
		}
		fi, err := g.info(path.Join(name, e.Name), e)
		if err != nil {
			return nil, err
		}
		ents = append(ents, fs.FileInfoToDirEntry(fi))
	}
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return ents, nil
}

// Open opens name, following symlinks that stay inside the tree.
func (g FS) Open(name string) (fs.File, error) {
	for hops := 0; ; hops++ {
		e, err := g.entry("open", name)
		if err != nil {
			return nil, err
		}
		if e.Mode == filemode.Symlink {
			target, err := g.ReadLink(name)
			if err != nil {
				return nil, err
			}
			next := path.Join(path.Dir(name), target)
			if hops == 40 || path.IsAbs(target) || !fs.ValidPath(next) {
				return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("symlink to %q not followed out of the tree or in a loop: %w", target, fs.ErrInvalid)}
			}
			name = next
			continue
		}
		fi, err := g.info(name, e)
		if err != nil {
			return nil, err
		}
		if fi.IsDir() {
			ents, err := g.ReadDir(name)
			if err != nil {
				return nil, err
			}
			return &gitDir{info: fi, ents: ents}, nil
		}
		f, err := g.root.TreeEntryFile(e)
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		rc, err := f.Reader()
		if err != nil {
			return nil, &fs.PathError{Op: "open", Path: name, Err: err}
		}
		return &gitFile{info: fi, rc: rc}, nil
	}
}

// info describes a tree entry.
func (g FS) info(name string, e *object.TreeEntry) (fs.FileInfo, error) {
	fi := &gitInfo{name: path.Base(name)}
	switch e.Mode {
	case filemode.Dir:
		fi.mode = fs.ModeDir | 0o755
	case filemode.Regular, filemode.Deprecated:
		fi.mode = 0o644
	case filemode.Executable:
		fi.mode = 0o755
	case filemode.Symlink:
		fi.mode = fs.ModeSymlink | 0o777
	default:
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fmt.Errorf("unsupported git file mode %s", e.Mode)}
	}
	if e.Mode != filemode.Dir {
		var size int64
		var err error
		g.locked(func() { size, err = g.root.Size(name) })
		if name == "." {
			size, err = 0, nil
		}
		if err != nil {
			return nil, &fs.PathError{Op: "stat", Path: name, Err: err}
		}
		fi.size = size
	}
	return fi, nil
}

type gitInfo struct {
	name string
	size int64
	mode fs.FileMode
}

func (i *gitInfo) Name() string       { return i.name }
func (i *gitInfo) Size() int64        { return i.size }
func (i *gitInfo) Mode() fs.FileMode  { return i.mode }
func (i *gitInfo) ModTime() time.Time { return time.Time{} } // git does not record one
func (i *gitInfo) IsDir() bool        { return i.mode.IsDir() }
func (i *gitInfo) Sys() any           { return nil }

type gitFile struct {
	info fs.FileInfo
	rc   io.ReadCloser
}

func (f *gitFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *gitFile) Read(p []byte) (int, error) { return f.rc.Read(p) }
func (f *gitFile) Close() error               { return f.rc.Close() }

type gitDir struct {
	info fs.FileInfo
	ents []fs.DirEntry
	off  int
}

func (d *gitDir) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *gitDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.Name(), Err: errors.New("is a directory")}
}
func (d *gitDir) Close() error { return nil }

// ReadDir implements fs.ReadDirFile.
func (d *gitDir) ReadDir(n int) ([]fs.DirEntry, error) {
	rest := d.ents[d.off:]
	if n <= 0 {
		d.off = len(d.ents)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	rest = rest[:min(n, len(rest))]
	d.off += len(rest)
	return rest, nil
}
