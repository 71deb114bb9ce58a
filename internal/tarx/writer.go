package tarx

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"maps"
	"path"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stevedore-dev/stevedore/internal/gobin"
)

// kind is what a name is in the layer being written.
type kind uint8

const (
	kindNone kind = iota
	kindDir
	kindSymlink
	kindFile // regular file or hardlink: a valid hardlink target
	kindOther
)

func kindOfType(t byte) kind {
	switch t {
	case tar.TypeDir:
		return kindDir
	case tar.TypeSymlink:
		return kindSymlink
	case tar.TypeReg, tar.TypeLink:
		return kindFile
	}
	return kindOther
}

// simNode is a name as the stream of entries leaves it, entry after
// entry, as tar extraction would: the state that checks and symlink
// resolution use.
type simNode struct {
	kind  kind
	count int         // explicit entries for the name so far
	dir   *tar.Header // the last explicit header of a directory
}

// outNode is a name as the written layer has it.
type outNode struct {
	kind kind
	// below: not written, because the tree below has it (a parent
	// directory kept as the base has it, a symlink followed, a file left
	// out as unchanged).
	below bool
	dir   *tar.Header // the header written for a directory
}

// Options configure a Writer.
type Options struct {
	// Below is the tree the layer lands on; nil for none.
	Below Lookup
	// SkipUnchanged leaves out entries identical to the tree below.
	SkipUnchanged bool
	// FullPath names entries (clean, relative) whose parent directories
	// are all written, those the tree below has included (with the mode
	// and owner it gives them), so that the layer holds their whole path:
	// eStargz needs it to move them first.
	FullPath map[string]bool
	// Plan, from an earlier pass over the same entries, makes the writer
	// write each name once, with the last entry's content.
	Plan *Plan
	// TempDir holds the spool files of SkipUnchanged, and those of the
	// sources writing to the Writer (os.TempDir when ""; see
	// Writer.TempDir).
	TempDir string
	// Collect makes a writer that writes nothing and only learns a plan
	// (with Plan's whiteouts known from the start).
	Collect bool
}

// Writer writes one layer's tar stream. It places entries by their final
// (clean, relative) names and keeps the rules that make a layer correct
// on the tree below it: parents that the tree below has are left as they
// are, its symlinks are followed, each name is written once (the last
// entry wins, as extraction would have it), and whiteouts come first in
// their directory. When the entries cannot be written in one pass under
// those rules (a name placed twice, a whiteout after its siblings), the
// writer stops writing, keeps reading the entries to the end, and
// NeedsPlan reports that the caller must start again with Plan.
type Writer struct {
	tw   *tar.Writer
	opts Options

	sim     map[string]*simNode
	out     map[string]*outNode
	touched map[string]bool // directories whose children were looked at

	pending map[string][]whiteout // by directory, not yet written
	deleted map[string]bool       // names this layer deletes below
	opaque  map[string]bool       // directories this layer makes opaque
	streamW []whiteout            // whiteouts met among the entries

	collecting bool   // a plan is needed: write nothing more
	why        string // the first reason a plan is needed
	stale      bool   // a whiteout came late: the plan needs a pass of its own

	written []Node // what the layer holds, in order

	det  gobin.Detector // finds Go executables among the regular files
	bins []Binary
}

// Binary is a Go executable the layer holds.
type Binary struct {
	Name   string // clean relative name
	Info   *debug.BuildInfo
	Digest string // "sha256:<hex>" of the file
}

// Binaries returns the Go executables the written layer holds, in order.
func (w *Writer) Binaries() []Binary { return w.bins }

// NewWriter returns a Writer writing to w.
func NewWriter(w io.Writer, o Options) *Writer {
	wr := &Writer{
		tw:      tar.NewWriter(w),
		opts:    o,
		sim:     make(map[string]*simNode),
		out:     make(map[string]*outNode),
		touched: make(map[string]bool),
		pending: make(map[string][]whiteout),
		deleted: make(map[string]bool),
		opaque:  make(map[string]bool),
	}
	if o.Plan != nil {
		for _, wo := range o.Plan.whiteouts {
			wr.register(wo)
			wr.streamW = append(wr.streamW, wo)
		}
	}
	if o.Collect {
		wr.needPlan("collecting")
	}
	return wr
}

// NeedsPlan reports that the entries could not be written in one pass:
// the output is incomplete and must be discarded, and the entries
// written again to a new Writer with Options.Plan set to Plan().
func (w *Writer) NeedsPlan() bool { return w.collecting }

// Why says why a plan was needed.
func (w *Writer) Why() string { return w.why }

// Files returns what the written layer holds, in order: its entries
// (whiteouts included, under their .wh. names), without content.
func (w *Writer) Files() []Node { return w.written }

// Close writes the whiteouts still pending and the tar footer.
func (w *Writer) Close() error {
	if w.collecting {
		return nil
	}
	if err := w.checkPlan(); err != nil {
		return err
	}
	dirs := slices.Sorted(maps.Keys(w.pending))
	// Opaque directories first, so that the parents they need come
	// before the whiteouts pending in those parents.
	for _, d := range dirs {
		for _, wo := range w.pending[d] {
			if wo.opaque {
				if err := w.ensureDir(wo.target, wo.mtime); err != nil {
					return err
				}
			}
		}
	}
	for _, d := range dirs {
		if err := w.flush(d, time.Time{}); err != nil {
			return err
		}
	}
	if err := w.tw.Close(); err != nil {
		return fmt.Errorf("closing tar stream: %w", err)
	}
	return nil
}

// Entry is one entry to place, already normalized: Header.Name is its
// clean relative name without trailing slash ("" is not allowed),
// Linkname the hardlink target (clean, relative) or the symlink target
// as written.
type Entry struct {
	Header *tar.Header
	// Source is the name the entry had in its source, for errors.
	Source string
	// ParentModTime is the mtime of synthesized parent directories.
	ParentModTime time.Time
	// Open returns the content of a regular file with Size > 0. It is
	// called at most once, unless Reopen is set; never when the entry
	// is not written.
	Open func() (io.ReadCloser, error)
	// Reopen says that Open may be called again for the same content.
	Reopen bool
	// Weak marks the directory a source places at its own root (its
	// "./" entry, placed at WithRoot): it is left out when the layer
	// already has that directory, or the tree below does, so that
	// copying into a directory does not change it.
	Weak bool
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// TempDir is the directory for the temp files of the sources writing to
// w: Options.TempDir ("" for os.TempDir).
func (w *Writer) TempDir() string { return w.opts.TempDir }

// Place places e: it checks e against the entries placed before it,
// follows the symlinks of the tree below, emits the parents the layer
// needs, and writes e unless the layer already has it that way.
func (w *Writer) Place(e Entry) error {
	h := e.Header
	name := strings.TrimSuffix(h.Name, "/")
	if name == "" || strings.HasPrefix(name, "/") || name == ".." || strings.HasPrefix(name, "../") {
		return fmt.Errorf("entry %q: %w", e.Source, ErrEscapesRoot)
	}
	if target, opq, ok := WhiteoutTarget(name[strings.LastIndexByte(name, '/')+1:]); ok {
		return w.streamWhiteout(e, Parent(name), target, opq)
	}
	name, err := w.resolve(name, e.Source, h.Typeflag == tar.TypeDir)
	if err != nil {
		return err
	}
	if h.Typeflag == tar.TypeLink {
		target, err := w.resolve(h.Linkname, e.Source, false)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrLinkTarget, err)
		}
		if target == name {
			return fmt.Errorf("entry %q: hardlink to itself: %w", e.Source, ErrLinkTarget)
		}
		if s := w.sim[target]; s == nil || s.kind != kindFile {
			return fmt.Errorf("entry %q: hardlink to %q: %w", e.Source, h.Linkname, ErrLinkTarget)
		}
		h.Linkname = target
	}
	if e.Weak && h.Typeflag == tar.TypeDir && w.hasDir(name) {
		return nil
	}
	h.Name = name
	occ := w.record(name, h)
	switch {
	case w.collecting:
		return nil
	case w.opts.Plan != nil:
		return w.placePlanned(e, name, occ)
	}
	return w.placeFirst(e, name, occ)
}

// hasDir reports whether name is a directory in the stream so far, or in
// the tree below.
func (w *Writer) hasDir(name string) bool {
	if s := w.sim[name]; s != nil {
		return s.kind == kindDir
	}
	n, ok := w.lookupBelow(name)
	return ok && n.IsDir()
}

// record updates the stream state with an entry and returns its
// occurrence number (1 for the first entry of that name).
func (w *Writer) record(name string, h *tar.Header) int {
	ancestors(name, func(a string) error {
		w.touched[Parent(a)] = true
		if w.sim[a] == nil {
			w.sim[a] = &simNode{kind: kindDir}
		}
		return nil
	})
	w.touched[Parent(name)] = true
	s := w.sim[name]
	if s == nil {
		s = &simNode{}
		w.sim[name] = s
	}
	s.count++
	s.kind = kindOfType(h.Typeflag)
	if s.kind == kindDir {
		s.dir = cloneHeader(h)
	}
	return s.count
}

// placeFirst writes e in the single pass, or switches to collecting when
// the rules need a plan.
func (w *Writer) placeFirst(e Entry, name string, occ int) error {
	h := e.Header
	if occ > 1 {
		o := w.out[name]
		if o != nil && o.kind == kindDir && h.Typeflag == tar.TypeDir && o.dir != nil && sameDir(o.dir, h) {
			return nil // the same directory again
		}
		w.needPlan(fmt.Sprintf("%q is placed twice", name))
		return nil
	}
	if o := w.out[name]; o != nil && o.kind == kindDir && !o.below {
		// A parent written earlier: fine if this entry says the same.
		if h.Typeflag == tar.TypeDir && sameDir(o.dir, h) {
			return nil
		}
		w.needPlan(fmt.Sprintf("%q is placed after its parent directory was written", name))
		return nil
	}
	return w.write(e, name, nil)
}

// write emits the parents of name, the pending whiteouts of its
// directory, and e itself (with the header dir instead, when given).
func (w *Writer) write(e Entry, name string, dir *tar.Header) error {
	if err := w.ensureParents(name, e); err != nil {
		return err
	}
	if err := w.flush(Parent(name), e.ParentModTime); err != nil {
		return err
	}
	h := e.Header
	if dir != nil {
		h = dir
	}
	if w.opts.SkipUnchanged {
		if skip, err := w.unchanged(&e, name, h); err != nil || skip {
			return err
		}
	}
	return w.emit(name, h, e.Source, e.Open)
}

// ensureParents makes every parent of name a directory of the result:
// kept as the tree below has it, or written (synthesized 0755, or with
// the plan's header for it). For a FullPath name, the parents the tree
// below has are written too, with its mode and owner.
func (w *Writer) ensureParents(name string, e Entry) error {
	full := w.opts.FullPath[name]
	return ancestors(name, func(a string) error {
		if o := w.out[a]; o != nil && o.kind == kindDir && !(full && o.below) {
			return nil
		}
		w.touched[Parent(a)] = true
		h := DirHeader(a, e.ParentModTime)
		if n, ok := w.lookupBelow(a); ok && n.IsDir() {
			if !full {
				w.mark(a, &outNode{kind: kindDir, below: true})
				return nil
			}
			h.Mode, h.Uid, h.Gid = n.Mode, n.UID, n.GID
		}
		if err := w.flush(Parent(a), e.ParentModTime); err != nil {
			return err
		}
		if p := w.opts.Plan; p != nil {
			if s := p.sim[a]; s != nil && s.dir != nil {
				h = cloneHeader(s.dir)
			}
		}
		return w.emit(a, h, e.Source, nil)
	})
}

// emit writes one header (and content) and records it.
func (w *Writer) emit(name string, h *tar.Header, source string, open func() (io.ReadCloser, error)) error {
	h = cloneHeader(h)
	h.Name = name
	if h.Typeflag == tar.TypeDir {
		h.Name += "/"
	}
	if err := w.tw.WriteHeader(h); err != nil {
		return fmt.Errorf("writing entry %q: %w", source, err)
	}
	o := &outNode{kind: kindOfType(h.Typeflag)}
	if o.kind == kindDir {
		o.dir = h
	}
	w.mark(name, o)
	w.written = append(w.written, NodeOf(name, h))
	if h.Typeflag != tar.TypeReg || h.Size == 0 {
		return nil
	}
	if open == nil {
		return fmt.Errorf("entry %q: no content", source)
	}
	rc, err := open()
	if err != nil {
		return fmt.Errorf("reading entry %q: %w", source, err)
	}
	defer rc.Close()
	w.det.Reset()
	sn := &sniffer{det: &w.det, sum: sha256.New()}
	bp := bufPool.Get().(*[]byte)
	n, err := io.CopyBuffer(io.MultiWriter(w.tw, sn), io.LimitReader(rc, h.Size), *bp)
	bufPool.Put(bp)
	if err != nil {
		return fmt.Errorf("writing entry %q: %w", source, err)
	}
	if n != h.Size {
		return fmt.Errorf("writing entry %q: content has %d bytes, header says %d: %w", source, n, h.Size, io.ErrUnexpectedEOF)
	}
	if info, ok := w.det.Result(); ok {
		w.bins = append(w.bins, Binary{Name: name, Info: info, Digest: "sha256:" + hex.EncodeToString(sn.sum.Sum(nil))})
	}
	return nil
}

// sniffer feeds a file's content to the Go executable detector, and
// hashes it while it may be one; both stop as soon as it cannot be (most
// files: at the first bytes).
type sniffer struct {
	det *gobin.Detector
	sum hash.Hash
}

func (s *sniffer) Write(p []byte) (int, error) {
	if s.det.Done() {
		return len(p), nil
	}
	s.det.Write(p)
	s.sum.Write(p)
	return len(p), nil
}

// mark records name in the output state.
func (w *Writer) mark(name string, o *outNode) {
	w.out[name] = o
	w.touched[Parent(name)] = true
}

// needPlan stops writing: the entries need a second pass with a plan.
func (w *Writer) needPlan(why string) {
	if !w.collecting {
		w.collecting, w.why = true, why
	}
}

// sameDir reports whether two directory headers say the same.
func sameDir(a, b *tar.Header) bool {
	return a.Mode&0o7777 == b.Mode&0o7777 && a.Uid == b.Uid && a.Gid == b.Gid &&
		a.ModTime.Equal(b.ModTime) && maps.Equal(a.PAXRecords, b.PAXRecords)
}

func cloneHeader(h *tar.Header) *tar.Header {
	c := *h
	if h.PAXRecords != nil {
		c.PAXRecords = maps.Clone(h.PAXRecords)
	}
	return &c
}

// DirHeader is a 0755 root-owned directory entry.
func DirHeader(name string, mtime time.Time) *tar.Header {
	return &tar.Header{
		Typeflag: tar.TypeDir,
		Name:     name + "/",
		Mode:     0o755,
		ModTime:  mtime,
		Format:   tar.FormatUnknown,
	}
}

// ScanBinaries returns the Go executables among the regular files of the
// tar stream r, in order, as a Writer would have found them writing it:
// for layers whose writer is gone (read back from a cache).
func ScanBinaries(r io.Reader) ([]Binary, error) {
	tr := tar.NewReader(r)
	var det gobin.Detector
	var bins []Binary
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return bins, nil
		}
		if err != nil {
			return nil, err
		}
		if h.Typeflag != tar.TypeReg || h.Size == 0 {
			continue
		}
		det.Reset()
		sn := &sniffer{det: &det, sum: sha256.New()}
		if _, err := io.CopyBuffer(sn, tr, *bp); err != nil {
			return nil, err
		}
		if info, ok := det.Result(); ok {
			bins = append(bins, Binary{Name: strings.TrimSuffix(strings.TrimPrefix(path.Clean("/"+h.Name), "/"), "/"), Info: info, Digest: "sha256:" + hex.EncodeToString(sn.sum.Sum(nil))})
		}
	}
}
