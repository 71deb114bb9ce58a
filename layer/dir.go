package layer

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"syscall"

	"github.com/stevedore-dev/stevedore/internal/tarx"
)

// testHookLstat, when set by a test, sees every name the walk stats.
var testHookLstat func(rel string)

// devIno identifies a file for hardlink detection.
type devIno struct{ dev, ino uint64 }

// dirWalk is the state of one directory source's walk.
type dirWalk struct {
	ctx   context.Context
	root  *os.Root
	tw    *tarx.Writer
	p     *prepared
	links map[devIno]string // first placed source name of a multiply-linked file
	// visit, when set, replaces placing (the cache key's stat walk).
	visit func(rel string, fi fs.FileInfo, link string) error
}

// writeDir walks s.name in sorted order, confined to it with os.Root.
func (s *source) writeDir(ctx context.Context, tw *tarx.Writer, p *prepared) error {
	root, err := os.OpenRoot(s.name)
	if err != nil {
		return fmt.Errorf("opening directory: %w", err)
	}
	defer root.Close()
	w := &dirWalk{ctx: ctx, root: root, tw: tw, p: p, links: make(map[devIno]string)}
	if err := w.walk("."); err != nil {
		return fmt.Errorf("dir %s: %w", s.name, err)
	}
	return nil
}

// stripped is rel minus the WithStripComponents prefix ("" when nothing
// is left).
func (p *prepared) stripped(rel string) string {
	for range p.rules.Strip {
		i := strings.IndexByte(rel, '/')
		if i < 0 {
			return ""
		}
		rel = rel[i+1:]
	}
	return rel
}

// walk visits the children of dir ("." for the top), sorted by name.
func (w *dirWalk) walk(dir string) error {
	f, err := w.root.Open(dir)
	if err != nil {
		return err
	}
	ents, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return fmt.Errorf("reading directory %q: %w", dir, err)
	}
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	for _, e := range ents {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		rel := path.Join(dir, e.Name())
		// Decide from the name and the directory entry's type alone (no
		// stat) whether the entry is placed and whether to descend.
		srel := w.p.stripped(rel)
		if srel == "" || !w.p.rules.Keep(srel, e.IsDir()) {
			if e.IsDir() && !w.p.rules.SkipDir(srel) {
				if err := w.walk(rel); err != nil {
					return err
				}
			}
			continue
		}
		if testHookLstat != nil {
			testHookLstat(rel)
		}
		fi, err := w.root.Lstat(rel)
		if err != nil {
			return err
		}
		if err := w.entry(rel, fi); err != nil {
			return err
		}
		if fi.IsDir() && !w.p.rules.SkipDir(srel) {
			if err := w.walk(rel); err != nil {
				return err
			}
		}
	}
	return nil
}

// entry places one walked entry.
func (w *dirWalk) entry(rel string, fi fs.FileInfo) error {
	mode := fi.Mode()
	hdr := &tar.Header{Name: rel, Mode: tarMode(mode), ModTime: fi.ModTime()}
	var id devIno
	switch {
	case mode.IsRegular():
		hdr.Typeflag, hdr.Size = tar.TypeReg, fi.Size()
		if fid, multi := fileID(fi); multi {
			id = fid
			if first, ok := w.links[id]; ok {
				hdr.Typeflag, hdr.Size, hdr.Linkname = tar.TypeLink, 0, first
			}
		}
	case mode.IsDir():
		hdr.Typeflag = tar.TypeDir
	case mode&fs.ModeSymlink != 0:
		target, err := w.root.Readlink(rel)
		if err != nil {
			return err
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
		return nil // tar cannot hold sockets; they are runtime state
	default:
		return fmt.Errorf("entry %q: unsupported file type %v: %w", rel, mode.Type(), ErrUnsupportedEntry)
	}
	if w.visit != nil {
		// The cache key's stat walk: only what the build would place.
		if _, err := w.p.rules.Rewrite(hdr); tarx.Skipped(err) {
			return nil
		} else if err != nil {
			return err
		}
		link := hdr.Linkname
		if hdr.Typeflag == tar.TypeChar || hdr.Typeflag == tar.TypeBlock {
			link = fmt.Sprintf("%d,%d", hdr.Devmajor, hdr.Devminor)
		}
		if hdr.Typeflag == tar.TypeReg && id != (devIno{}) {
			w.links[id] = rel
		}
		return w.visit(rel, fi, link)
	}
	if hdr.Typeflag != tar.TypeReg || hdr.Size == 0 {
		placed, err := place(w.tw, w.p, hdr, nil)
		if placed && hdr.Typeflag == tar.TypeReg && id != (devIno{}) {
			w.links[id] = rel
		}
		return err
	}
	f, err := w.root.Open(rel)
	if err != nil {
		return err
	}
	defer f.Close()
	if ofi, err := f.Stat(); err != nil {
		return err
	} else if !os.SameFile(fi, ofi) || ofi.Size() != fi.Size() {
		return fmt.Errorf("entry %q changed during the walk", rel)
	}
	placed, err := place(w.tw, w.p, hdr, f)
	if placed && id != (devIno{}) {
		w.links[id] = rel
	}
	if err != nil && errors.Is(err, syscall.EISDIR) {
		return fmt.Errorf("entry %q changed during the walk: %w", rel, err)
	}
	return err
}
