package dockerfile

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"sync/atomic"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tarEntry is one entry of a test layer.
type tarEntry struct {
	name, body, link string
	typ              byte
	mode             int64
	uid              int
}

// testLayer makes a layer of entries; reads counts its Uncompressed calls.
func testLayer(t *testing.T, reads *atomic.Int32, entries ...tarEntry) v1.Layer {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.link, Uid: e.uid}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		require.NoError(t, tw.WriteHeader(h))
		tw.Write([]byte(e.body))
	}
	require.NoError(t, tw.Close())
	data := b.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		if reads != nil {
			reads.Add(1)
		}
		return io.NopCloser(bytes.NewReader(data)), nil
	})
	require.NoError(t, err)
	return l
}

func dirE(name string, mode int64) tarEntry {
	return tarEntry{name: name, typ: tar.TypeDir, mode: mode}
}

// TestView: the merged tree of layers, whiteouts and opaque directories
// applied, symlinks resolved inside the root, files read from the layer
// that holds them.
func TestView(t *testing.T) {
	var reads atomic.Int32
	l1 := testLayer(t, &reads,
		dirE("etc/", 0o755), tarEntry{name: "etc/passwd", body: "root:x:0:0::/root:/bin/sh\n"},
		dirE("a/", 0o755), tarEntry{name: "a/x", body: "x"}, tarEntry{name: "a/y", body: "y"},
		dirE("c/", 0o700), tarEntry{name: "c/old", body: "old"},
		dirE("d/", 0o755), tarEntry{name: "d/inner", body: "inner"},
		dirE("usr/lib/", 0o755), tarEntry{name: "usr/lib/libc.so", body: "libc"},
		tarEntry{name: "lib", typ: tar.TypeSymlink, link: "usr/lib"},
		tarEntry{name: "abs", typ: tar.TypeSymlink, link: "/etc"},
		tarEntry{name: "up", typ: tar.TypeSymlink, link: "../../../etc/passwd"},
		tarEntry{name: "loop", typ: tar.TypeSymlink, link: "loop"},
	)
	l2 := testLayer(t, &reads,
		tarEntry{name: "a/.wh.x"},
		tarEntry{name: "c/.wh..wh..opq"}, tarEntry{name: "c/new", body: "new", uid: 7},
		tarEntry{name: "d", body: "now a file"},
		tarEntry{name: "hard", typ: tar.TypeLink, link: "a/y"},
	)
	cache := t.TempDir()
	v := newView([]v1.Layer{l1, l2}, newIndexCache(cache))
	ctx := context.Background()
	for _, tc := range []struct {
		path    string
		real    string
		typ     byte
		ok      bool
		wantErr bool
	}{
		{"/a/x", "a/x", 0, false, false},          // whited out
		{"/a/y", "a/y", tar.TypeReg, true, false}, // still there
		{"/c/old", "c/old", 0, false, false},      // hidden by the opaque directory
		{"/c/new", "c/new", tar.TypeReg, true, false},
		{"/c", "c", tar.TypeDir, true, false}, // the opaque directory itself stays
		{"/d/inner", "", 0, false, true},      // d is now a file
		{"/lib/libc.so", "usr/lib/libc.so", tar.TypeReg, true, false},
		{"/abs/passwd", "etc/passwd", tar.TypeReg, true, false}, // absolute target: inside the root
		{"/up", "etc/passwd", tar.TypeReg, true, false},         // .. stops at the root
		{"/loop", "", 0, false, true},
		{"/nope/x", "", 0, false, true},
		{"/lib/new.so", "usr/lib/new.so", 0, false, false}, // missing, parent resolved
	} {
		real, fi, ok, err := v.resolve(ctx, tc.path)
		if tc.wantErr {
			assert.Error(t, err, "resolve(%s)", tc.path)
			continue
		}
		require.NoError(t, err, "resolve(%s)", tc.path)
		assert.Equal(t, tc.ok, ok, "resolve(%s) found", tc.path)
		assert.Equal(t, tc.real, real, "resolve(%s) path", tc.path)
		if ok {
			assert.Equal(t, tc.typ, fi.Type, "resolve(%s) type", tc.path)
		}
	}
	fi, ok, err := v.lstat(ctx, "c")
	require.NoError(t, err)
	assert.True(t, ok && fi.Mode == 0o700, "c keeps its 0700 from the lower layer, not the upper layer's implied parent: %+v", fi)
	for _, tc := range []struct{ path, want string }{
		{"/etc/passwd", "root:x:0:0::/root:/bin/sh\n"},
		{"/c/new", "new"},
		{"/hard", "y"}, // a hardlink reads its target
		{"/lib/libc.so", "libc"},
	} {
		b, err := v.readFile(ctx, tc.path, 1<<20)
		require.NoError(t, err, "readFile(%s)", tc.path)
		assert.Equal(t, tc.want, string(b), "readFile(%s)", tc.path)
	}
	_, err = v.readFile(ctx, "/a/x", 1<<20)
	assert.ErrorIs(t, err, ErrNotFound, "readFile of a deleted file")
	_, err = v.readFile(ctx, "/c", 1<<20)
	assert.Error(t, err, "readFile of a directory")

	// The indexes are kept in the cache directory: another build reads
	// none of the layers to know the tree.
	reads.Store(0)
	v2 := newView([]v1.Layer{l1, l2}, newIndexCache(cache))
	_, fi, ok, err = v2.resolve(ctx, "/c/new")
	require.NoError(t, err)
	assert.True(t, ok, "found through the cached indexes")
	assert.Equal(t, 7, fi.UID, "owner from the cached index")
	assert.Zero(t, reads.Load(), "layers read by a view over cached indexes")
}

// brokenLayer cannot be read.
type brokenLayer struct{ v1.Layer }

func (brokenLayer) Uncompressed() (io.ReadCloser, error) { return nil, errors.New("gone") }

func TestViewLayerError(t *testing.T) {
	v := newView([]v1.Layer{brokenLayer{testLayer(t, nil, tarEntry{name: "x"})}}, newIndexCache(""))
	_, _, _, err := v.resolve(context.Background(), "/x")
	assert.ErrorContains(t, err, "gone", "a layer that cannot be read")
}
