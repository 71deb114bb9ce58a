package tarx

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// kind is what a placed name is in the layer being written.
type kind uint8

const (
	kindNone kind = iota
	kindDir
	kindSymlink
	kindFile // regular file or hardlink: a valid hardlink target
	kindOther
)

// Writer writes one layer's tar stream. It places entries by their final
// (clean, relative) names, refuses names that would be written through a
// symlink or under a non-directory placed earlier, emits missing parent
// directories, and writes each directory once.
type Writer struct {
	tw     *tar.Writer
	placed map[string]kind
}

// NewWriter returns a Writer writing to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{tw: tar.NewWriter(w), placed: make(map[string]kind)}
}

// Close writes the tar footer.
func (w *Writer) Close() error {
	if err := w.tw.Close(); err != nil {
		return fmt.Errorf("closing tar stream: %w", err)
	}
	return nil
}

// Entry is one entry to place, already normalized: Name is its final clean
// relative name without trailing slash ("" is not allowed), Linkname the
// final hardlink target or the raw symlink target.
type Entry struct {
	Header *tar.Header
	// Source is the name the entry had in its source, for errors.
	Source string
	// ParentModTime is the mtime of synthesized parent directories.
	ParentModTime time.Time
	// NoParents skips emitting missing parents (whiteouts).
	NoParents bool
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// Place checks e against the names placed before it, emits its missing
// parents, and writes it with the body (Header.Size bytes of a regular
// file). A directory already placed is not written again.
func (w *Writer) Place(e Entry, body io.Reader) error {
	h := e.Header
	name := strings.TrimSuffix(h.Name, "/")
	if name == "" || strings.HasPrefix(name, "/") || name == ".." || strings.HasPrefix(name, "../") {
		return fmt.Errorf("entry %q: %w", e.Source, ErrEscapesRoot)
	}
	if err := w.checkParents(name, e); err != nil {
		return err
	}
	k := kindOther
	switch h.Typeflag {
	case tar.TypeDir:
		k = kindDir
		if w.placed[name] == kindDir {
			return nil // each directory once: the first one wins
		}
		h.Name = name + "/"
	case tar.TypeSymlink:
		k = kindSymlink
	case tar.TypeReg:
		k = kindFile
	case tar.TypeLink:
		k = kindFile
		target := h.Linkname
		if target == name {
			return fmt.Errorf("entry %q: hardlink to itself: %w", e.Source, ErrLinkTarget)
		}
		if w.placed[target] != kindFile {
			return fmt.Errorf("entry %q: hardlink to %q: %w", e.Source, target, ErrLinkTarget)
		}
		if err := w.checkAncestors(target, e.Source); err != nil {
			return err
		}
	}
	if err := w.tw.WriteHeader(h); err != nil {
		return fmt.Errorf("writing entry %q: %w", e.Source, err)
	}
	w.placed[name] = k
	if h.Typeflag == tar.TypeReg && h.Size > 0 {
		if body == nil {
			return fmt.Errorf("entry %q: no content", e.Source)
		}
		bp := bufPool.Get().(*[]byte)
		n, err := io.CopyBuffer(w.tw, io.LimitReader(body, h.Size), *bp)
		bufPool.Put(bp)
		if err != nil {
			return fmt.Errorf("writing entry %q: %w", e.Source, err)
		}
		if n != h.Size {
			return fmt.Errorf("writing entry %q: content has %d bytes, header says %d: %w", e.Source, n, h.Size, io.ErrUnexpectedEOF)
		}
	}
	return nil
}

// checkAncestors reports an error if an ancestor of name is placed as
// anything but a directory.
func (w *Writer) checkAncestors(name, source string) error {
	for i := 0; i < len(name); i++ {
		if name[i] != '/' {
			continue
		}
		switch w.placed[name[:i]] {
		case kindNone, kindDir:
		case kindSymlink:
			return fmt.Errorf("entry %q: %q is a symlink: %w", source, name[:i], ErrThroughSymlink)
		default:
			return fmt.Errorf("entry %q: %q is not a directory: %w", source, name[:i], ErrNotDir)
		}
	}
	return nil
}

// checkParents checks the ancestors of name and emits the missing ones as
// 0755 root-owned directories.
func (w *Writer) checkParents(name string, e Entry) error {
	for i := 0; i < len(name); i++ {
		if name[i] != '/' {
			continue
		}
		p := name[:i]
		switch w.placed[p] {
		case kindDir:
		case kindNone:
			if e.NoParents {
				continue
			}
			if err := w.tw.WriteHeader(DirHeader(p, e.ParentModTime)); err != nil {
				return fmt.Errorf("writing parent %q of entry %q: %w", p, e.Source, err)
			}
			w.placed[p] = kindDir
		case kindSymlink:
			return fmt.Errorf("entry %q: %q is a symlink: %w", e.Source, p, ErrThroughSymlink)
		default:
			return fmt.Errorf("entry %q: %q is not a directory: %w", e.Source, p, ErrNotDir)
		}
	}
	return nil
}

// Placed reports whether name (clean, relative) is placed, and whether as
// a directory.
func (w *Writer) Placed(name string) (placed, dir bool) {
	k := w.placed[name]
	return k != kindNone, k == kindDir
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

// errSkip is returned by Rewrite for entries the rules leave out.
var errSkip = errors.New("skip")
