package layer

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"io/fs"
	"path"

	"github.com/stevedore-dev/stevedore/internal/tarx"
)

// fsWalk is the state of one fs.FS source's walk.
type fsWalk struct {
	ctx  context.Context
	fsys fs.FS
	tw   writerFunc
	p    *prepared
}

// writerFunc receives each walked entry: its source header and, for
// regular files, a function opening its content.
type writerFunc func(hdr *tar.Header, open func() (io.ReadCloser, error)) error

// writeFS walks s.fsys from "." in sorted order.
func (s *source) writeFS(ctx context.Context, tw *tarx.Writer, p *prepared) error {
	w := &fsWalk{ctx: ctx, fsys: s.fsys, p: p, tw: func(hdr *tar.Header, open func() (io.ReadCloser, error)) error {
		if hdr.Typeflag != tar.TypeReg || hdr.Size == 0 {
			_, err := place(tw, p, hdr, nil)
			return err
		}
		if _, err := p.rules.Rewrite(hdr); err != nil {
			// Skipped or invalid: no need to open.
			_, err := place(tw, p, hdr, nil)
			return err
		}
		rc, err := open()
		if err != nil {
			return err
		}
		defer rc.Close()
		_, err = place(tw, p, hdr, rc)
		return err
	}}
	if err := w.walk("."); err != nil {
		return fmt.Errorf("fs: %w", err)
	}
	return nil
}

func (w *fsWalk) walk(dir string) error {
	ents, err := fs.ReadDir(w.fsys, dir) // sorted by name
	if err != nil {
		return fmt.Errorf("reading directory %q: %w", dir, err)
	}
	for _, e := range ents {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		rel := path.Join(dir, e.Name())
		if e.IsDir() && w.p.rules.SkipDir(w.p.stripped(rel)) {
			continue
		}
		if err := w.entry(rel, e); err != nil {
			return err
		}
		if e.IsDir() {
			if err := w.walk(rel); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *fsWalk) entry(rel string, e fs.DirEntry) error {
	var fi fs.FileInfo
	var err error
	if e.Type()&fs.ModeSymlink != 0 {
		if _, ok := w.fsys.(fs.ReadLinkFS); !ok {
			return fmt.Errorf("entry %q is a symlink and the fs.FS (%T) does not implement fs.ReadLinkFS", rel, w.fsys)
		}
		fi, err = fs.Lstat(w.fsys, rel)
	} else {
		fi, err = e.Info()
	}
	if err != nil {
		return err
	}
	mode := fi.Mode()
	hdr := &tar.Header{Name: rel, Mode: tarMode(mode)}
	switch {
	case mode.IsRegular():
		hdr.Typeflag, hdr.Size = tar.TypeReg, fi.Size()
		if mode.Perm() == 0 {
			hdr.Mode |= 0o644
		}
	case mode.IsDir():
		hdr.Typeflag = tar.TypeDir
		if mode.Perm() == 0 {
			hdr.Mode |= 0o755
		}
	case mode&fs.ModeSymlink != 0:
		target, err := fs.ReadLink(w.fsys, rel)
		if err != nil {
			return err
		}
		hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
		if mode.Perm() == 0 {
			hdr.Mode |= 0o777
		}
	default:
		return fmt.Errorf("entry %q: unsupported file type %v: %w", rel, mode.Type(), ErrUnsupportedEntry)
	}
	return w.tw(hdr, func() (io.ReadCloser, error) {
		f, err := w.fsys.Open(rel)
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
	})
}
