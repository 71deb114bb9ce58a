package layer

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"

	"github.com/stevedore-dev/stevedore/internal/cache"
	"github.com/stevedore-dev/stevedore/internal/tarx"
)

// fsSource is an io/fs sourceBase.
type fsSource struct {
	sourceBase
	fsys fs.FS
}

// FS is an io/fs source (embed.FS, fstest.MapFS, os.DirFS, ...), walked in
// sorted order from ".". Symlinks are kept when fsys implements
// fs.ReadLinkFS; a symlink in an FS that does not is an error. Modes are
// those the FS reports (a regular file, directory or symlink reported
// with no permission bits gets 0644, 0755 or 0777); mtimes are replaced.
// embed.FS reports its files 0444 and its directories 0555, and
// fstest.MapFS 0555 for the directories it only implies: to make an
// embedded program executable or a directory writable, add WithChmod
// ("u+w,a+X" gives 0644 files and 0755 directories, "a+x" makes
// programs runnable).
// Files are read by several goroutines at once to hash the content (see
// WithCache, Recorder): fsys must be safe for concurrent use, as os.DirFS,
// embed.FS, fstest.MapFS and zip.Reader are. A change to fsys during the
// build is found (ErrChanged) by the sizes of its files and, where its
// FileInfo carries system data (os.DirFS), their times too.
func FS(fsys fs.FS, opts ...SourceOption) Source {
	t, err := newSource(kindFS, "layer.FS", opts, fsys == nil, "nil fs.FS")
	if err != nil {
		return invalid{err}
	}
	return &fsSource{sourceBase: t, fsys: fsys}
}

func (s *fsSource) describe() string { return "fs -> " + s.root() }

func (s *fsSource) write(ctx context.Context, w *tarx.Writer, p *prepared) error {
	t := &fsTree{fsys: s.fsys}
	if err := walk(ctx, t, p, writeVisitor(w, t, p)); err != nil {
		return fmt.Errorf("fs: %w", err)
	}
	return unmatched(p, "fs")
}

// key hashes the tree's content (see content).
func (s *fsSource) key(ctx context.Context, k *cache.KeyBuilder, p *prepared) (bool, error) {
	return keyContent(ctx, k, p, "fs", s.content)
}

func (s *fsSource) input(ctx context.Context, p *prepared) (Input, bool, error) {
	return contentInput(ctx, p, "fs", s.root(), s.content)
}

// content hashes what the build would place, as a directory's content
// is hashed: each kept entry's path, type, mode, link target and the
// sha256 of each regular file (read, not compressed). An fs.FS has no
// stat key to remember it by: it is read each time.
func (s *fsSource) content(ctx context.Context, p *prepared) (string, error) {
	t := &fsTree{fsys: s.fsys}
	ents, err := keptEntries(ctx, t, p, "fs", nil)
	var sum string
	if err == nil {
		sum, err = treeContent(ctx, t, p, ents)
	}
	if err != nil {
		return "", fmt.Errorf("fs: %w", err)
	}
	return sum, nil
}

// fsTree reads an fs.FS.
type fsTree struct{ fsys fs.FS }

func (t *fsTree) readDir(dir string) ([]fs.DirEntry, error) { return fs.ReadDir(t.fsys, dir) }

func (t *fsTree) info(rel string, e fs.DirEntry) (fs.FileInfo, error) {
	if e.Type()&fs.ModeSymlink == 0 {
		return e.Info()
	}
	if _, ok := t.fsys.(fs.ReadLinkFS); !ok {
		return nil, fmt.Errorf("entry %q is a symlink and the fs.FS (%T) does not implement fs.ReadLinkFS", rel, t.fsys)
	}
	return fs.Lstat(t.fsys, rel)
}

func (t *fsTree) header(rel string, fi fs.FileInfo) (*tar.Header, devIno, error) {
	mode := fi.Mode()
	hdr := modeHeader(rel, mode)
	perm := int64(0)
	switch {
	case mode.IsRegular():
		hdr.Typeflag, hdr.Size, perm = tar.TypeReg, fi.Size(), 0o644
	case mode.IsDir():
		hdr.Typeflag, perm = tar.TypeDir, 0o755
	case mode&fs.ModeSymlink != 0:
		target, err := fs.ReadLink(t.fsys, rel)
		if err != nil {
			return nil, devIno{}, err
		}
		hdr.Typeflag, hdr.Linkname, perm = tar.TypeSymlink, target, 0o777
	default:
		return nil, devIno{}, fmt.Errorf("entry %q: unsupported file type %v: %w", rel, mode.Type(), ErrUnsupportedEntry)
	}
	if mode.Perm() == 0 {
		hdr.Mode |= perm
	}
	return hdr, devIno{}, nil
}

func (t *fsTree) open(rel string, fi fs.FileInfo) (io.ReadCloser, error) {
	f, err := t.fsys.Open(rel)
	if err != nil {
		return nil, goneErr(".", err)
	}
	ofi, err := f.Stat()
	if err == nil && stateOf(ofi) != stateOf(fi) {
		err = changedErr(".", "written to since the walk")
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return newCheckedReader(f, f.Stat, fi), nil
}
