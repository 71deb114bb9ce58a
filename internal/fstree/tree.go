package fstree

import (
	"archive/tar"
	"iter"
	"maps"
	"path"
	"slices"

	"github.com/stevedore-dev/stevedore/internal/tarx"
)

// Tree is the file tree of a stack of layers, as a container sees it.
type Tree struct {
	nodes    map[string]tarx.Node
	children map[string]map[string]struct{} // directory -> names of its children
}

// New returns an empty tree.
func New() *Tree {
	return &Tree{nodes: map[string]tarx.Node{}, children: map[string]map[string]struct{}{}}
}

// Lookup returns the node at name (clean, relative), without following
// symlinks.
func (t *Tree) Lookup(name string) (tarx.Node, bool) {
	n, ok := t.nodes[name]
	return n, ok
}

// Len is the number of nodes.
func (t *Tree) Len() int { return len(t.nodes) }

// All yields every node, sorted by name.
func (t *Tree) All() iter.Seq[tarx.Node] {
	return func(yield func(tarx.Node) bool) {
		for _, name := range slices.Sorted(maps.Keys(t.nodes)) {
			if !yield(t.nodes[name]) {
				return
			}
		}
	}
}

// Apply puts one layer on the tree: its whiteouts delete from what is
// below (whatever their place in the layer, as the image spec says), then
// its entries are added, the later of two with one name winning.
func (t *Tree) Apply(layer []tarx.Node) {
	var entries []tarx.Node
	for _, n := range layer {
		dir, base := parentOf(n.Name), path.Base(n.Name)
		target, opaque, ok := tarx.WhiteoutTarget(base)
		switch {
		case !ok:
			entries = append(entries, n)
		case opaque:
			for c := range t.children[dir] {
				t.remove(c)
			}
		default:
			t.remove(join(dir, target))
		}
	}
	for _, n := range entries {
		t.put(n)
	}
}

// put adds n, replacing what was at its name, and makes its parents
// directories, as extraction does.
func (t *Tree) put(n tarx.Node) {
	if n.Type == tar.TypeLink {
		if target, ok := t.nodes[n.Linkname]; ok && target.Type == tar.TypeReg {
			n.Type, n.Size, n.Digest = tar.TypeReg, target.Size, target.Digest
			n.Linkname = ""
		}
	}
	if old, ok := t.nodes[n.Name]; ok && (old.Type != tar.TypeDir || n.Type != tar.TypeDir) {
		t.remove(n.Name)
	}
	for i := 0; i < len(n.Name); i++ {
		if n.Name[i] != '/' {
			continue
		}
		d := n.Name[:i]
		if p, ok := t.nodes[d]; !ok || p.Type != tar.TypeDir {
			t.remove(d)
			t.link(tarx.Node{Name: d, Type: tar.TypeDir, Mode: 0o755})
		}
	}
	t.link(n)
}

func (t *Tree) link(n tarx.Node) {
	t.nodes[n.Name] = n
	dir := parentOf(n.Name)
	kids := t.children[dir]
	if kids == nil {
		kids = map[string]struct{}{}
		t.children[dir] = kids
	}
	kids[n.Name] = struct{}{}
}

// remove deletes name and everything under it.
func (t *Tree) remove(name string) {
	if _, ok := t.nodes[name]; !ok {
		return
	}
	for c := range t.children[name] {
		t.remove(c)
	}
	delete(t.children, name)
	delete(t.nodes, name)
	delete(t.children[parentOf(name)], name)
}

func parentOf(name string) string {
	d := path.Dir(name)
	if d == "." {
		return ""
	}
	return d
}

func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}
