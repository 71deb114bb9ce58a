package tarx

import (
	"archive/tar"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"
)

// whiteout is one deletion or opaque marker of the layer.
type whiteout struct {
	name   string // its entry name: "a/.wh.b" or "a/b/.wh..wh..opq"
	dir    string // the directory it is written in
	target string // the deleted name, or the opaque directory
	opaque bool
	mtime  time.Time
}

func newWhiteout(target string, opaque bool, mtime time.Time) whiteout {
	wo := whiteout{target: target, opaque: opaque, mtime: mtime}
	if opaque {
		wo.dir, wo.name = target, Join(target, WhiteoutOpaque)
	} else {
		wo.dir = Parent(target)
		wo.name = Join(wo.dir, WhiteoutPrefix+path.Base(target))
	}
	return wo
}

// Whiteout registers the deletion of name (clean, relative) from the
// tree below, or, with opaque, an opaque marker for the directory name.
// Register every whiteout the caller knows before placing entries: each
// is written before any other entry of its directory. The parents of a
// deletion are followed through the tree below's symlinks (so a deletion
// of /lib/x on a base where /lib -> usr/lib deletes usr/lib/x), and so is
// an opaque directory itself. A name registered twice is written once.
func (w *Writer) Whiteout(name string, opaque bool, mtime time.Time) error {
	target, err := w.resolve(name, name, opaque)
	if err != nil {
		return err
	}
	w.register(newWhiteout(target, opaque, mtime))
	return nil
}

// register makes wo pending in its directory, once.
func (w *Writer) register(wo whiteout) bool {
	set := w.deleted
	if wo.opaque {
		set = w.opaque
	}
	if set[wo.target] {
		return false
	}
	set[wo.target] = true
	w.pending[wo.dir] = append(w.pending[wo.dir], wo)
	return true
}

// streamWhiteout handles a whiteout met among the entries (a source
// tarball that is itself a layer).
func (w *Writer) streamWhiteout(e Entry, dir, target string, opaque bool) error {
	rdir := ""
	if dir != "" {
		var err error
		if rdir, err = w.resolve(dir, e.Source, true); err != nil {
			return err
		}
	}
	t := rdir
	if !opaque {
		t = Join(rdir, target)
	}
	wo := newWhiteout(t, opaque, e.Header.ModTime)
	if w.opts.Plan != nil && !w.collecting {
		return nil // registered with the plan, written first
	}
	late := w.touched[wo.dir]
	if !w.register(wo) {
		return nil
	}
	w.streamW = append(w.streamW, wo)
	if late {
		// Entries of its directory were looked at or written before it:
		// a whiteout must come first, and what was decided without it
		// on the tree below may be wrong, so the plan needs a pass of
		// its own.
		w.stale = w.stale || w.opts.Below != nil
		w.needPlan(fmt.Sprintf("whiteout %q comes after entries of its directory", wo.name))
	}
	return nil
}

// flush writes the whiteouts pending in dir.
func (w *Writer) flush(dir string, mtime time.Time) error {
	ws := w.pending[dir]
	if len(ws) == 0 {
		return nil
	}
	delete(w.pending, dir)
	slices.SortFunc(ws, func(a, b whiteout) int { return strings.Compare(a.name, b.name) })
	for _, wo := range ws {
		if wo.opaque {
			if err := w.ensureDir(wo.target, wo.mtime); err != nil {
				return err
			}
		}
		h := &tar.Header{Typeflag: tar.TypeReg, Name: wo.name, Mode: 0o644, ModTime: wo.mtime, Format: tar.FormatUnknown}
		if err := w.emit(wo.name, h, "/"+wo.target, nil); err != nil {
			return err
		}
	}
	return nil
}

// ensureDir makes dir a directory of the result, as ensureParents does
// for parents.
func (w *Writer) ensureDir(dir string, mtime time.Time) error {
	if o := w.out[dir]; o != nil && o.kind == kindDir {
		return nil
	}
	e := Entry{Header: DirHeader(dir, mtime), Source: "/" + dir, ParentModTime: mtime}
	return w.ensureParents(Join(dir, "x"), e)
}
