package fstree

import (
	"archive/tar"
	"errors"
	"fmt"
	"iter"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/stevedore-dev/stevedore/internal/tarx"
)

// Tree is the file tree of a stack of layers, as a container sees it.
type Tree struct {
	nodes    map[string]tarx.Node
	children map[string]map[string]struct{} // directory -> names of its children
	origin   map[string]int                 // name -> the layer that put it there
	content  map[string]source              // a hardlink -> where its content is
	layer    int                            // the layer being applied
}

// source is an entry of one layer's tar: the nth (from 0) of the
// entries named name in it.
type source struct {
	layer int
	name  string
	nth   int
}

// New returns an empty tree.
func New() *Tree {
	return &Tree{nodes: map[string]tarx.Node{}, children: map[string]map[string]struct{}{}, origin: map[string]int{}, content: map[string]source{}}
}

// Clone returns a copy of t that Apply can change without changing t.
func (t *Tree) Clone() *Tree {
	c := &Tree{
		nodes:    maps.Clone(t.nodes),
		children: make(map[string]map[string]struct{}, len(t.children)),
		origin:   maps.Clone(t.origin),
		content:  maps.Clone(t.content),
		layer:    t.layer,
	}
	for dir, names := range t.children {
		c.children[dir] = maps.Clone(names)
	}
	return c
}

// Origin returns the number (from 0, in Apply order) of the layer that
// put name in the tree.
func (t *Tree) Origin(name string) int { return t.origin[name] }

// Content returns where the content of the regular file at name is: the
// layer (numbered as Origin numbers them), the name of the entry in that
// layer's tar, and which of the entries of that name it is (nth, from 0:
// a tar may hold a name twice, and extraction keeps the later). For a
// hardlink, that is its target's entry, in the layer that holds the
// target, which may be below the hardlink's.
func (t *Tree) Content(name string) (layer int, entry string, nth int) {
	if s, ok := t.content[name]; ok {
		return s.layer, s.name, s.nth
	}
	return t.origin[name], name, 0
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
	defer func() { t.layer++ }()
	var entries []tarx.Node
	for _, n := range layer {
		dir, base := tarx.Parent(n.Name), path.Base(n.Name)
		target, opaque, ok := tarx.WhiteoutTarget(base)
		switch {
		case !ok:
			if !tarx.AufsMeta(n.Name) {
				entries = append(entries, n)
			}
		case opaque:
			for c := range t.children[dir] {
				t.remove(c)
			}
		default:
			t.remove(tarx.Join(dir, target))
		}
	}
	seen := map[string]int{} // entries of each name so far in this layer
	for _, n := range entries {
		t.put(n, seen[n.Name])
		seen[n.Name]++
	}
}

// put adds n, the nth entry of its name in the layer, replacing what was
// at its name, and makes its parents directories, as extraction does. A
// hardlink to a regular file the tree has becomes that file under its own
// name (extraction makes one inode of both): its type, mode, owner, size
// and content are the target's.
func (t *Tree) put(n tarx.Node, nth int) {
	var content *source
	if n.Type == tar.TypeLink {
		if target, ok := t.nodes[n.Linkname]; ok && target.Type == tar.TypeReg {
			l, e, k := t.Content(n.Linkname)
			content = &source{l, e, k}
			name := n.Name
			n = target
			n.Name = name
		}
	}
	if content == nil && nth > 0 {
		content = &source{t.layer, n.Name, nth}
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
	if content != nil {
		t.content[n.Name] = *content
	}
}

func (t *Tree) link(n tarx.Node) {
	t.nodes[n.Name] = n
	t.origin[n.Name] = t.layer
	delete(t.content, n.Name)
	dir := tarx.Parent(n.Name)
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
	delete(t.origin, name)
	delete(t.content, name)
	delete(t.children[tarx.Parent(name)], name)
}

// ErrLink reports a symlink that cannot be followed: it loops or leaves
// the root.
var ErrLink = errors.New("symlink cannot be followed")

// Resolve follows the symlinks of every element of name (clean,
// relative), as the kernel would inside a container: absolute targets
// from the root, at most 40 links. A relative target that climbs above
// the root is an error wrapping ErrLink, as for a layer placed on the
// tree.
func (t *Tree) Resolve(name string) (string, error) { return t.resolve(name, false) }

// ResolveInRoot is Resolve with ".." stopping at the root, as in a
// container, whose root is its own, and as docker build's COPY resolves
// paths: a relative target that climbs above the root resolves from the
// root ("../../etc" from /a is /etc). Only a loop (more than 40 links) is
// an error wrapping ErrLink.
func (t *Tree) ResolveInRoot(name string) (string, error) { return t.resolve(name, true) }

func (t *Tree) resolve(name string, inRoot bool) (string, error) {
	parts := strings.Split(name, "/")
	cur, hops := "", 0
	for i := 0; i < len(parts); i++ {
		next := tarx.Join(cur, parts[i])
		n, ok := t.nodes[next]
		if !ok || n.Type != tar.TypeSymlink {
			cur = next
			continue
		}
		if hops++; hops > tarx.MaxSymlinks {
			return "", fmt.Errorf("%q: too many levels of symlinks: %w", "/"+name, ErrLink)
		}
		target, leaves := tarx.LinkTarget(next, n.Linkname)
		if leaves && !inRoot {
			return "", fmt.Errorf("%q -> %q leaves the root: %w", "/"+next, n.Linkname, ErrLink)
		}
		rest := parts[i+1:]
		parts = append(strings.Split(target, "/"), rest...)
		if target == "" {
			parts = rest
		}
		cur, i = "", -1
	}
	return cur, nil
}
