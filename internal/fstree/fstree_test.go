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
		{"aufs metadata is not a whiteout", [][]tarx.Node{{file("k")}, {file(".wh..wh.plnk")}}, []string{".wh..wh.plnk 0", "k 0"}},
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
	tr.Apply([]tarx.Node{{Name: "a", Type: tar.TypeReg, Size: 3, Digest: "sha256:x"}})
	tr.Apply([]tarx.Node{{Name: "b", Type: tar.TypeLink, Linkname: "a"}})
	b, ok := tr.Lookup("b")
	require.True(t, ok)
	assert.Equal(t, tarx.Node{Name: "b", Type: tar.TypeReg, Size: 3, Digest: "sha256:x"}, b, "a hardlink is its target's content")
	assert.Equal(t, 0, tr.Origin("a"))
	assert.Equal(t, 1, tr.Origin("b"))
}

func TestResolve(t *testing.T) {
	tr := New()
	tr.Apply([]tarx.Node{dirn("usr"), dirn("usr/lib"), mk("lib", tar.TypeSymlink, "usr/lib"),
		mk("abs", tar.TypeSymlink, "/usr/lib"), mk("usr/lib/up", tar.TypeSymlink, "../../etc"),
		mk("loop1", tar.TypeSymlink, "loop2"), mk("loop2", tar.TypeSymlink, "loop1"),
		mk("out", tar.TypeSymlink, "../../x")})
	for in, want := range map[string]string{
		"lib/x":         "usr/lib/x",
		"abs/x":         "usr/lib/x",
		"lib/up/passwd": "etc/passwd",
		"usr":           "usr",
		"lib":           "usr/lib",
	} {
		got, err := tr.Resolve(in)
		require.NoError(t, err, "Resolve(%q)", in)
		assert.Equal(t, want, got, "Resolve(%q)", in)
	}
	for _, in := range []string{"loop1/x", "out/x"} {
		_, err := tr.Resolve(in)
		assert.ErrorIs(t, err, ErrLink, "Resolve(%q)", in)
	}
}

func TestIndexAndStore(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Typeflag: tar.TypeDir, Name: "./etc/", Mode: 0o755},
		{Typeflag: tar.TypeReg, Name: "etc/passwd", Mode: 0o644, Size: 5, Uid: 1, Gid: 2},
		{Typeflag: tar.TypeLink, Name: "etc/pw", Linkname: "./etc/passwd"},
		{Typeflag: tar.TypeSymlink, Name: "/bin", Linkname: "usr/bin"},
		{Typeflag: tar.TypeReg, Name: "../escape", Size: 0},
	} {
		require.NoError(t, tw.WriteHeader(h))
		if h.Size > 0 {
			_, err := tw.Write([]byte("hello"))
			require.NoError(t, err)
		}
	}
	require.NoError(t, tw.Close())
	nodes, err := Index(t.Context(), &buf)
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
