package fstree

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/cache"
	"github.com/stevedore-dev/stevedore/internal/tartest"
	"github.com/stevedore-dev/stevedore/internal/tarx"
)

func mk(name string, typ byte, link string) tarx.Node {
	return tarx.Node{Name: name, Type: typ, Mode: 0o755, Linkname: link}
}

func file(name string) tarx.Node { return tarx.Node{Name: name, Type: tar.TypeReg, Mode: 0o644} }
func dirn(name string) tarx.Node { return mk(name, tar.TypeDir, "") }

func names(t *Tree) []string {
	var out []string
	for n := range t.All() {
		out = append(out, fmt.Sprintf("%s %c", n.Name, n.Type))
	}
	return out
}

func TestApply(t *testing.T) {
	for _, tc := range []struct {
		name   string
		layers [][]tarx.Node
		want   []string
	}{
		{"implicit parents", [][]tarx.Node{{file("a/b/c")}}, []string{"a 5", "a/b 5", "a/b/c 0"}},
		{"whiteout deletes a subtree below", [][]tarx.Node{{dirn("d"), file("d/x"), file("e")}, {file(".wh.d")}}, []string{"e 0"}},
		{"whiteouts apply to lower layers only, wherever they are",
			[][]tarx.Node{{file("a")}, {file("a"), file(".wh.a")}}, []string{"a 0"}},
		{"opaque hides the lower children", [][]tarx.Node{{file("o/x"), file("o/y")}, {file("o/z"), file("o/.wh..wh..opq")}}, []string{"o 5", "o/z 0"}},
		{"a file replaces a directory and its children", [][]tarx.Node{{file("d/x")}, {file("d")}}, []string{"d 0"}},
		{"a directory under a file replaces the file", [][]tarx.Node{{file("d")}, {file("d/x")}}, []string{"d 5", "d/x 0"}},
		{"aufs metadata is not a whiteout, and is skipped as extraction skips it", [][]tarx.Node{{file("k")},
			{dirn(".wh..wh.plnk"), file(".wh..wh.plnk/12.34"), file(".wh..wh.aufs"), file("d/x")}},
			[]string{"d 5", "d/x 0", "k 0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := New()
			for _, l := range tc.layers {
				tr.Apply(l)
			}
			assert.Equal(t, tc.want, names(tr))
		})
	}
}

func TestHardlinkAndOrigin(t *testing.T) {
	tr := New()
	tr.Apply([]tarx.Node{{Name: "a", Type: tar.TypeReg, Mode: 0o600, UID: 5, Size: 3, Digest: "sha256:x"}})
	tr.Apply([]tarx.Node{{Name: "b", Type: tar.TypeLink, Mode: 0o777, Linkname: "a"}})
	b, ok := tr.Lookup("b")
	require.True(t, ok)
	assert.Equal(t, tarx.Node{Name: "b", Type: tar.TypeReg, Mode: 0o600, UID: 5, Size: 3, Digest: "sha256:x"}, b, "a hardlink is its target: metadata and content")
	assert.Equal(t, 0, tr.Origin("a"))
	assert.Equal(t, 1, tr.Origin("b"))
}

func TestContent(t *testing.T) {
	tr := New()
	tr.Apply([]tarx.Node{file("a"), {Name: "h", Type: tar.TypeLink, Linkname: "a"}, file("r")})
	tr.Apply([]tarx.Node{{Name: "b", Type: tar.TypeLink, Linkname: "h"}, {Name: "r", Type: tar.TypeLink, Linkname: "a"}})
	tr.Apply([]tarx.Node{file("r")})
	for _, tc := range []struct {
		name, why string
		layer     int
		entry     string
	}{
		{"a", "a file", 0, "a"},
		{"h", "a hardlink in its target's layer", 0, "a"},
		{"b", "a hardlink to a hardlink of a lower layer", 0, "a"},
		{"r", "a file replacing a hardlink", 2, "r"},
	} {
		l, e, nth := tr.Content(tc.name)
		assert.Equal(t, 0, nth, "Content(%q) nth (%s)", tc.name, tc.why)
		assert.Equal(t, tc.layer, l, "Content(%q) layer (%s)", tc.name, tc.why)
		assert.Equal(t, tc.entry, e, "Content(%q) entry (%s)", tc.name, tc.why)
	}
}

func TestResolve(t *testing.T) {
	tr := New()
	tr.Apply([]tarx.Node{dirn("usr"), dirn("usr/lib"), mk("lib", tar.TypeSymlink, "usr/lib"),
		mk("abs", tar.TypeSymlink, "/usr/lib"), mk("usr/lib/up", tar.TypeSymlink, "../../etc"),
		mk("loop1", tar.TypeSymlink, "loop2"), mk("loop2", tar.TypeSymlink, "loop1"),
		mk("out", tar.TypeSymlink, "../../x")})
	for _, tc := range []struct {
		in     string
		inRoot bool // ResolveInRoot, not Resolve
		want   string
		err    error
	}{
		{"lib/x", false, "usr/lib/x", nil},
		{"abs/x", false, "usr/lib/x", nil},
		{"lib/up/passwd", false, "etc/passwd", nil},
		{"usr", false, "usr", nil},
		{"lib", false, "usr/lib", nil},
		{"loop1/x", false, "", ErrLink},
		{"out/x", false, "", ErrLink},
		{"abs/x", true, "usr/lib/x", nil},
		{"lib/up/passwd", true, "etc/passwd", nil},
		{"out/y", true, "x/y", nil},
		{"loop1/x", true, "", ErrLink},
	} {
		resolve, fn := tr.Resolve, "Resolve"
		if tc.inRoot {
			resolve, fn = tr.ResolveInRoot, "ResolveInRoot"
		}
		got, err := resolve(tc.in)
		if tc.err != nil {
			assert.ErrorIs(t, err, tc.err, "%s(%q)", fn, tc.in)
			continue
		}
		require.NoError(t, err, "%s(%q)", fn, tc.in)
		assert.Equal(t, tc.want, got, "%s(%q)", fn, tc.in)
	}
}

func TestIndexAndStore(t *testing.T) {
	in := tartest.Bytes(t,
		tartest.Dir("./etc/"),
		tartest.File("etc/passwd", "hello").WithOwner(1, 2),
		tartest.Entry{Header: tar.Header{Typeflag: tar.TypeLink, Name: "etc/pw", Linkname: "./etc/passwd"}},
		tartest.Entry{Header: tar.Header{Typeflag: tar.TypeSymlink, Name: "/bin", Linkname: "usr/bin"}},
		tartest.Entry{Header: tar.Header{Typeflag: tar.TypeReg, Name: "../escape"}},
	)
	nodes, err := Index(t.Context(), bytes.NewReader(in))
	require.NoError(t, err)
	sum := sha256.Sum256([]byte("hello"))
	want := []tarx.Node{
		{Name: "etc", Type: tar.TypeDir, Mode: 0o755},
		{Name: "etc/passwd", Type: tar.TypeReg, Mode: 0o644, UID: 1, GID: 2, Size: 5, Digest: "sha256:" + hex.EncodeToString(sum[:])},
		{Name: "etc/pw", Type: tar.TypeLink, Linkname: "etc/passwd"},
		{Name: "bin", Type: tar.TypeSymlink, Linkname: "usr/bin"},
	}
	assert.Equal(t, want, nodes, "an entry that leaves the root is not indexed")

	c, err := cache.Open(t.TempDir())
	require.NoError(t, err)
	d := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
	_, ok := Load(c, Full, d)
	assert.False(t, ok, "Load before Store")
	require.NoError(t, Store(c, Full, d, nodes))
	got, ok := Load(c, Full, d)
	require.True(t, ok)
	assert.Equal(t, nodes, got, "round trip through the cache")
	_, ok = Load(c, Written, d)
	assert.False(t, ok, "another kind of index is another key")
}

// TestClone: Apply on a clone leaves the original as it was.
func TestClone(t *testing.T) {
	orig := New()
	orig.Apply([]tarx.Node{dirn("d"), file("d/x"), file("d/y"), file("e")})
	want := names(orig)
	c := orig.Clone()
	c.Apply([]tarx.Node{file("d/.wh.x"), file("d/z"), file(".wh.e")})
	assert.Equal(t, want, names(orig), "the original after Apply on its clone")
	assert.Equal(t, []string{"d 5", "d/y 0", "d/z 0"}, names(c))
	assert.Equal(t, 0, orig.Origin("d/x"))
	assert.Equal(t, 1, c.Origin("d/z"), "the clone numbers its layers on from the original's")
}

// TestContentDuplicate: a name a layer holds twice has the later entry's
// content; a hardlink has the content its target had when it was made.
func TestContentDuplicate(t *testing.T) {
	tr := New()
	tr.Apply([]tarx.Node{file("a"), {Name: "h", Type: tar.TypeLink, Linkname: "a"}, file("a"), {Name: "g", Type: tar.TypeLink, Linkname: "a"}})
	for _, tc := range []struct {
		name, why string
		nth       int
	}{
		{"a", "the later of two entries", 1},
		{"h", "a hardlink to the first", 0},
		{"g", "a hardlink to the second", 1},
	} {
		l, e, nth := tr.Content(tc.name)
		assert.Equal(t, 0, l, "Content(%q) layer (%s)", tc.name, tc.why)
		assert.Equal(t, "a", e, "Content(%q) entry (%s)", tc.name, tc.why)
		assert.Equal(t, tc.nth, nth, "Content(%q) nth (%s)", tc.name, tc.why)
	}
}
