package tarx

import (
	"archive/tar"
	"errors"
	"fmt"
	"path"
	"strings"
)

// ErrBaseLink reports a symlink of the tree below the layer that cannot
// be followed: it leaves the root, or it loops.
var ErrBaseLink = errors.New("layer: base symlink cannot be followed")

// MaxSymlinks bounds the symlinks followed for one name, as Linux's
// MAXSYMLINKS does.
const MaxSymlinks = 40

// resolve returns where name lands once the symlinks of the tree below
// the layer are followed, as `docker build`'s COPY follows them: each
// parent that is a symlink below (and not replaced in this layer) is
// replaced by its target, and so is the last element when followLast is
// set (directories: their content goes into the link's target). Entries
// this layer placed earlier are checked instead: a name under a symlink
// or a non-directory of this layer is an error, as before.
func (w *Writer) resolve(name, source string, followLast bool) (string, error) {
	parts := strings.Split(name, "/")
	cur, hops := "", 0
	for i := 0; i < len(parts); i++ {
		next := Join(cur, parts[i])
		last := i == len(parts)-1
		if k, ok := w.sim[next]; ok {
			switch {
			case k.kind == kindDir, last:
				cur = next
				continue
			case k.kind == kindSymlink:
				return "", fmt.Errorf("entry %q: %q is a symlink: %w", source, next, ErrThroughSymlink)
			default:
				return "", fmt.Errorf("entry %q: %q is not a directory: %w", source, next, ErrNotDir)
			}
		}
		n, ok := w.lookupBelow(next)
		if !ok || n.Type != tar.TypeSymlink || (last && !followLast) {
			// Absent, a directory, or something a directory replaces.
			cur = next
			continue
		}
		if hops++; hops > MaxSymlinks {
			return "", fmt.Errorf("entry %q: too many levels of symlinks at %q: %w", source, next, ErrBaseLink)
		}
		target, err := linkTarget(next, n.Linkname)
		if err != nil {
			return "", fmt.Errorf("entry %q: %w", source, err)
		}
		rest := parts[i+1:]
		parts = append(splitName(target), rest...)
		cur, i = "", -1
	}
	return cur, nil
}

// linkTarget is LinkTarget, with a target that leaves the root an error.
func linkTarget(name, target string) (string, error) {
	to, leaves := LinkTarget(name, target)
	if leaves {
		return "", fmt.Errorf("symlink %q -> %q leaves the image root: %w", "/"+name, target, ErrBaseLink)
	}
	return to, nil
}

// LinkTarget is where the symlink at name (a clean relative name)
// pointing to target leads, as a clean relative name: absolute targets
// from the root of the image, as inside a container. leaves reports a
// relative target that climbs above the root; to is then where it lands
// with ".." stopping at the root, as in a container.
func LinkTarget(name, target string) (to string, leaves bool) {
	if path.IsAbs(target) {
		return strings.TrimPrefix(path.Clean(target), "/"), false
	}
	up := path.Join(Parent(name), target)
	leaves = up == ".." || strings.HasPrefix(up, "../")
	return strings.TrimPrefix(path.Join("/", up), "/"), leaves
}

func splitName(n string) []string {
	if n == "" {
		return nil
	}
	return strings.Split(n, "/")
}

// lookupBelow is what the tree below holds at name, as this layer sees
// it: nothing when this layer deletes name or one of its parents, or
// hides it under an opaque directory.
func (w *Writer) lookupBelow(name string) (Node, bool) {
	w.touched[Parent(name)] = true
	if w.opts.Below == nil || w.hiddenBelow(name) {
		return Node{}, false
	}
	return w.opts.Below(name)
}

// hiddenBelow reports whether this layer's whiteouts hide name of the
// tree below: name or a parent is deleted, or a parent is opaque.
func (w *Writer) hiddenBelow(name string) bool {
	if len(w.deleted) == 0 && len(w.opaque) == 0 {
		return false
	}
	if w.deleted[name] {
		return true
	}
	hidden := false
	ancestors(name, func(a string) error {
		if w.deleted[a] || w.opaque[a] {
			hidden = true
			return errStop
		}
		return nil
	})
	return hidden
}

var errStop = errors.New("stop")
