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
func FS(fsys fs.FS, opts ...SourceOption) Source {
	t, err := newSourceBase(kindFS, "layer.FS", opts)
	switch {
	case err != nil:
		return invalid{err}
	case fsys == nil:
		return invalid{fmt.Errorf("%w: layer.FS: nil fs.FS", ErrInvalidOption)}
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

// key hashes the names, types, modes, link targets and contents the
// build would place (contents are read, not compressed).
func (s *fsSource) key(ctx context.Context, k *cache.KeyBuilder, p *prepared) (bool, error) {
	keyRules(k, "fs", p)
	t := &fsTree{fsys: s.fsys}
	err := walk(ctx, t, p, func(e walked) (bool, error) {
		out, err := p.rules.Rewrite(e.hdr)
		if tarx.Skipped(err) {
			return false, nil
		} else if err != nil {
			return false, err
		}
		k.AddString(out.Name).AddInt(out.Mode).AddString(string(out.Typeflag)).AddString(out.Linkname)
		if out.Typeflag != tar.TypeReg {
			return true, nil
		}
		rc, err := t.open(e.rel, e.fi)
		if err != nil {
			return false, err
		}
		defer rc.Close()
		return true, k.AddReader(out.Size, rc)
	})
	if err != nil {
		return false, fmt.Errorf("fs: %w", err)
	}
	k.AddString("end")
	return true, unmatched(p, "fs")
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
		return nil, err
	}
	ofi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if ofi.Size() != fi.Size() {
		f.Close()
		return nil, fmt.Errorf("entry %q changed during the walk", rel)
	}
	return f, nil
}
