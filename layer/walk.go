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

// testHookLstat, when set by a test, sees every name a walk stats.
var testHookLstat func(rel string)

// devIno identifies a host file, for hardlink detection.
type devIno struct{ dev, ino uint64 }

// fileTree is what a walk reads: a host directory (dirTree) or an fs.FS
// (fsTree).
type fileTree interface {
	// readDir lists dir ("." for the top), sorted by name.
	readDir(dir string) ([]fs.DirEntry, error)
	// info returns what lstat(2) says of the entry e of readDir at rel.
	info(rel string, e fs.DirEntry) (fs.FileInfo, error)
	// header returns the source header of a walked entry, with the
	// entry's identity for hardlink detection (zero when it has none); a
	// nil header leaves the entry out (sockets).
	header(rel string, fi fs.FileInfo) (*tar.Header, devIno, error)
	// open opens a regular file, checking that it is still fi.
	open(rel string, fi fs.FileInfo) (io.ReadCloser, error)
}

// walked is one entry a walk keeps.
type walked struct {
	rel string
	fi  fs.FileInfo
	hdr *tar.Header // the source's header
	out *tar.Header // hdr as the rules place it
}

// visitor receives each entry the rules keep, rewritten by them, in walk
// order, and reports whether it placed it (a hardlink can only point at
// a placed file).
type visitor func(e walked) (placed bool, err error)

// walker walks a fileTree in sorted order, entering only the
// directories that can hold a kept entry and statting only the entries
// the rules keep, and turns files with several links into hardlinks to
// the first name placed.
type walker struct {
	ctx   context.Context
	tree  fileTree
	p     *prepared
	visit visitor
	check *walkCheck
	links map[devIno]string
	// held are the directories being walked that the filter leaves out
	// (but WithOnly keeps), outermost first: one is visited, with its
	// own stat, before the first entry kept under it, as docker build's
	// context holds it (BuildKit's fsutil walker does the same).
	held []heldDir
}

// heldDir is a directory left out by the filter, visited only when an
// entry under it is kept.
type heldDir struct {
	rel, srel string
	e         fs.DirEntry
	visited   bool
}

// walk walks t with v, checking that it keeps what the source's first
// walk in this build kept, as it was then (see walkCheck).
func walk(ctx context.Context, t fileTree, p *prepared, v visitor) error {
	w := &walker{ctx: ctx, tree: t, p: p, visit: v, check: p.walkCheck(), links: make(map[devIno]string)}
	w.check.rehash = func(e walked) (string, error) {
		// Not checked with p's racySums: sameContent compares the sum
		// with the first walk's, and a racySums mismatch would blame a
		// change its stat cannot show, when the stat did show it.
		return fileSum(ctx, t.open, new(racySums), e, make([]byte, 64<<10))
	}
	if err := w.dir("."); err != nil {
		return err
	}
	return w.check.end()
}

// dir visits the children of dir.
func (w *walker) dir(dir string) error {
	ents, err := w.tree.readDir(dir)
	if err != nil {
		if dir != "." { // listed in its parent
			err = goneErr(dir, err)
		}
		return fmt.Errorf("reading directory %q: %w", dir, err)
	}
	rules := w.p.rules
	for _, e := range ents {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		rel := path.Join(dir, e.Name())
		// Decide from the name and the directory entry's type alone (no
		// stat) whether the entry is kept and whether to descend.
		srel := rules.Stripped(rel)
		if srel == "" || !rules.Keep(srel) {
			if e.IsDir() && !rules.SkipDir(srel) {
				if err := w.heldDir(rel, srel, e); err != nil {
					return err
				}
			}
			continue
		}
		if err := w.visitHeld(); err != nil {
			return err
		}
		fi, err := w.info(rel, e)
		if err != nil {
			return err
		}
		if err := w.entry(rel, srel, fi); err != nil {
			return err
		}
		if fi.IsDir() && !rules.SkipDir(srel) {
			if err := w.dir(rel); err != nil {
				return err
			}
		}
	}
	return nil
}

// heldDir walks the directory rel, which the rules leave out: when
// WithOnly keeps it, it is held, and visited if an entry under it is
// kept.
func (w *walker) heldDir(rel, srel string, e fs.DirEntry) error {
	if srel == "" || !w.p.rules.KeepOnly(srel) {
		return w.dir(rel)
	}
	w.held = append(w.held, heldDir{rel: rel, srel: srel, e: e})
	err := w.dir(rel)
	w.held = w.held[:len(w.held)-1]
	return err
}

// visitHeld visits the held directories not visited yet, outermost
// first: an entry under them is about to be kept.
func (w *walker) visitHeld() error {
	for i := range w.held {
		h := &w.held[i]
		if h.visited {
			continue
		}
		h.visited = true
		fi, err := w.info(h.rel, h.e)
		if err != nil {
			return err
		}
		if err := w.entry(h.rel, h.srel, fi); err != nil {
			return err
		}
	}
	return nil
}

// info is the tree's lstat of the entry e at rel.
func (w *walker) info(rel string, e fs.DirEntry) (fs.FileInfo, error) {
	if testHookLstat != nil {
		testHookLstat(rel)
	}
	fi, err := w.tree.info(rel, e)
	if err != nil {
		return nil, goneErr(rel, err) // listed in its directory
	}
	return fi, nil
}

// entry visits the entry at rel, whose stripped name srel the rules
// keep.
func (w *walker) entry(rel, srel string, fi fs.FileInfo) error {
	hdr, id, err := w.tree.header(rel, fi)
	if err != nil || hdr == nil {
		return err
	}
	if id != (devIno{}) {
		if first, ok := w.links[id]; ok {
			hdr.Typeflag, hdr.Size, hdr.Linkname = tar.TypeLink, 0, first
			id = devIno{}
		}
	}
	out, err := w.p.rules.RewriteKept(hdr, srel)
	if err != nil {
		return err
	}
	e := walked{rel: rel, fi: fi, hdr: hdr, out: out}
	if err := w.check.next(e); err != nil {
		return err
	}
	placed, err := w.visit(e)
	if placed && id != (devIno{}) {
		w.links[id] = rel
	}
	return err
}

// writeVisitor places each walked entry with w.
func writeVisitor(w *tarx.Writer, t fileTree, p *prepared) visitor {
	return func(e walked) (bool, error) {
		en := tarx.Entry{Header: e.out, Source: e.rel}
		if e.out.Typeflag == tar.TypeReg && e.out.Size > 0 {
			en.Open, en.Reopen = func() (io.ReadCloser, error) {
				rc, err := t.open(e.rel, e.fi)
				if err != nil {
					return nil, err
				}
				return p.seen.racy.reader(rc, e.rel, e.hdr.Size), nil
			}, true
		}
		return true, placeRewritten(w, p, en)
	}
}

// modeHeader is the part of a source header that fs.FileMode gives.
func modeHeader(rel string, mode fs.FileMode) *tar.Header {
	return &tar.Header{Name: rel, Mode: tarMode(mode)}
}

// tarMode converts permission and special bits to tar's c_ISUID etc.
func tarMode(m fs.FileMode) int64 {
	t := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		t |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		t |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		t |= 0o1000
	}
	return t
}
