package layer

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/stevedore-dev/stevedore/internal/cache"
	"github.com/stevedore-dev/stevedore/internal/tarx"
)

// dirSource is a host directory.
type dirSource struct {
	sourceBase
	dir string
}

// Dir is a local directory source: a sorted walk confined to dir (through
// os.Root, so nothing outside it is opened), with symlinks kept as
// symlinks, hardlinks as hardlinks, empty directories, modes including
// setuid, setgid and sticky bits, FIFOs and device nodes. Sockets are
// skipped (tar cannot hold them). Host mtimes and owners are replaced (see
// WithModTime, WithOwner).
func Dir(dir string, opts ...SourceOption) Source {
	t, err := newSource(kindDir, "layer.Dir", opts, dir == "", "empty directory name")
	if err != nil {
		return invalid{err}
	}
	return &dirSource{sourceBase: t, dir: dir}
}

// describe names the kind and the destination only: the host path
// differs between checkouts and machines, and the image digest must not
// depend on where the source happens to be.
func (s *dirSource) describe() string { return "dir -> " + s.root() }

func (s *dirSource) write(ctx context.Context, w *tarx.Writer, p *prepared) error {
	return s.walk(ctx, p, func(t fileTree) visitor { return writeVisitor(w, t, p) })
}

// walk walks the directory with the visitor made for its sourceBase.
func (s *dirSource) walk(ctx context.Context, p *prepared, mk func(fileTree) visitor) error {
	root, err := os.OpenRoot(s.dir)
	if err != nil {
		return fmt.Errorf("opening directory: %w", err)
	}
	defer root.Close()
	t := &dirTree{root: root}
	if err := walk(ctx, t, p, mk(t)); err != nil {
		return fmt.Errorf("dir %s: %w", s.dir, err)
	}
	return unmatched(p, "dir "+s.dir)
}

// key adds the directory's content: each kept entry's relative path,
// type, mode, link target and, for a regular file, the sha256 of its
// content (owners and times come from the rules). The content hash is
// remembered by the key of the stat walk that precedes it (see sumMemo),
// so an unchanged tree costs a stat walk and a fresh one a read.
func (s *dirSource) key(ctx context.Context, k *cache.KeyBuilder, p *prepared) (bool, error) {
	return keyContent(ctx, k, p, "dir", s.content)
}

func (s *dirSource) input(ctx context.Context, p *prepared) (Input, bool, error) {
	return contentInput(ctx, p, "dir", s.root(), s.content)
}

// content is the directory's content hash (see key).
func (s *dirSource) content(ctx context.Context, p *prepared) (string, error) {
	root, err := os.OpenRoot(s.dir)
	if err != nil {
		return "", fmt.Errorf("opening directory: %w", err)
	}
	defer root.Close()
	abs, err := filepath.Abs(s.dir)
	if err != nil {
		return "", err
	}
	t := &dirTree{root: root}
	stat := newStatWalk("layer/dir-stat/v1", abs)
	ents, err := keptEntries(ctx, t, p, "dir "+s.dir, stat)
	var sum string
	if err == nil {
		stat.k.AddString("end")
		sum, err = p.sums.sum(stat, func() (string, error) {
			return treeContent(ctx, t, p, ents)
		})
	}
	if err != nil {
		return "", fmt.Errorf("dir %s: %w", s.dir, err)
	}
	return sum, nil
}

// dirTree reads a host directory through os.Root.
type dirTree struct{ root *os.Root }

func (t *dirTree) readDir(dir string) ([]fs.DirEntry, error) {
	f, err := t.root.Open(dir)
	if err != nil {
		return nil, err
	}
	ents, err := f.ReadDir(-1)
	f.Close()
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return ents, err
}

// info is what readDir's lstat said of e (a directory read through
// os.Root has its entries lstat-ed as it is read), else a new lstat.
func (t *dirTree) info(rel string, e fs.DirEntry) (fs.FileInfo, error) {
	if e != nil {
		if fi, err := e.Info(); err == nil {
			return fi, nil
		}
	}
	return t.root.Lstat(rel)
}

// dirCursor holds the directory of a tree opened last, so that the files
// of one directory are opened with one system call each, where a path
// from the root costs one per element. Not safe for concurrent use.
type dirCursor struct {
	dir string
	sub *os.Root
}

// enter returns dir (relative to root, "." for root itself), opened.
func (c *dirCursor) enter(root *os.Root, dir string) (*os.Root, error) {
	if dir == "." {
		return root, nil
	}
	if c.sub != nil && c.dir == dir {
		return c.sub, nil
	}
	c.close()
	sub, err := root.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	c.dir, c.sub = dir, sub
	return sub, nil
}

func (c *dirCursor) close() {
	if c.sub != nil {
		c.sub.Close()
		c.sub = nil
	}
}

func (t *dirTree) header(rel string, fi fs.FileInfo) (*tar.Header, devIno, error) {
	mode := fi.Mode()
	hdr := modeHeader(rel, mode)
	hdr.ModTime = fi.ModTime()
	var id devIno
	switch {
	case mode.IsRegular():
		hdr.Typeflag, hdr.Size = tar.TypeReg, fi.Size()
		if fid, multi := fileID(fi); multi {
			id = fid
		}
	case mode.IsDir():
		hdr.Typeflag = tar.TypeDir
	case mode&fs.ModeSymlink != 0:
		target, err := t.root.Readlink(rel)
		if err != nil {
			return nil, id, err
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
	case mode&fs.ModeNamedPipe != 0:
		hdr.Typeflag = tar.TypeFifo
	case mode&fs.ModeDevice != 0:
		hdr.Typeflag = tar.TypeBlock
		if mode&fs.ModeCharDevice != 0 {
			hdr.Typeflag = tar.TypeChar
		}
		hdr.Devmajor, hdr.Devminor = devNumbers(fi)
	case mode&fs.ModeSocket != 0:
		return nil, id, nil // tar cannot hold sockets; they are runtime state
	default:
		return nil, id, fmt.Errorf("entry %q: unsupported file type %v: %w", rel, mode.Type(), ErrUnsupportedEntry)
	}
	return hdr, id, nil
}

func (t *dirTree) open(rel string, fi fs.FileInfo) (io.ReadCloser, error) {
	f, err := t.root.Open(rel)
	if err != nil {
		return nil, goneErr(".", err)
	}
	return opened(f, fi)
}

// openAt is open through c, a cursor of the calling goroutine.
func (t *dirTree) openAt(c *dirCursor, rel string, fi fs.FileInfo) (io.ReadCloser, error) {
	d, err := c.enter(t.root, path.Dir(rel))
	if err != nil {
		return nil, goneErr(".", err)
	}
	f, err := d.Open(path.Base(rel))
	if err != nil {
		return nil, goneErr(".", err)
	}
	return opened(f, fi)
}

// opened checks that f, just opened, is still the regular file the walk
// saw as fi, and reads it checked (see checkedReader). Its errors do not
// name the entry: its callers do.
func opened(f *os.File, fi fs.FileInfo) (io.ReadCloser, error) {
	if err := sameFile(f, fi); err != nil {
		f.Close()
		return nil, err
	}
	return newCheckedReader(f, f.Stat, fi), nil
}
