package image

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/itest"
	"github.com/stevedore-dev/stevedore/internal/mediatype"
)

// testImage is a small OCI image with one added layer.
func testImage(t testing.TB, seed int64) v1.Image {
	return mustBuild(t, configuredBase(t, mediatype.OCI), WithLayers(randomLayer(t, seed, types.OCILayer)), WithEnv("SEED", string(rune('a'+seed))))
}

func TestOCILayoutRoundTrip(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "layout")
	a, b := testImage(t, 1), testImage(t, 2)
	require.NoError(t, WriteOCILayout(ctx, dir, a, WithRefName("a")))
	require.NoError(t, WriteOCILayout(ctx, dir, b, WithRefName("b")))
	// Writing a again without a name does not duplicate an entry.
	require.NoError(t, WriteOCILayout(ctx, dir, a))
	require.NoError(t, WriteOCILayout(ctx, dir, a))
	l, err := ReadOCILayout(dir)
	require.NoError(t, err)
	defer l.Close()
	for name, want := range map[string]v1.Image{"a": a, "b": b} {
		got, err := l.Image(name)
		require.NoError(t, err, "Image(%q)", name)
		checkImage(t, got)
		assert.Equal(t, digestOf(t, want), digestOf(t, got), "Image(%q) digest", name)
	}
	im, err := l.Index().IndexManifest()
	require.NoError(t, err)
	assert.Len(t, im.Manifests, 3, "index.json entries (a, b, unnamed a)")
	_, err = l.Image("")
	assert.ErrorIs(t, err, ErrAmbiguous, `Image("")`)
	_, err = l.Image("nope")
	assert.ErrorIs(t, err, ErrNotFound, "Image(nope)")

	// Cross-check with ggcr's own layout reader.
	p, err := layout.FromPath(dir)
	require.NoError(t, err)
	gi, err := p.ImageIndex()
	require.NoError(t, err)
	gimg, err := gi.Image(digestOf(t, b))
	require.NoError(t, err)
	checkImage(t, gimg)

	// Moving a name replaces the entry that had it; the other stays.
	c := testImage(t, 3)
	require.NoError(t, WriteOCILayout(ctx, dir, c, WithRefName("a")))
	l2, err := ReadOCILayout(dir)
	require.NoError(t, err)
	defer l2.Close()
	for name, want := range map[string]v1.Image{"a": c, "b": b} {
		got, err := l2.Image(name)
		if assert.NoError(t, err, "after moving name a: Image(%q)", name) {
			assert.Equal(t, digestOf(t, want), digestOf(t, got), "after moving name a: Image(%q) digest", name)
		}
	}
	assert.Equal(t, []string{"blobs", "index.json", "oci-layout"}, itest.DirNames(t, dir), "layout dir")
}

func TestOCITarballRoundTrip(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	img := testImage(t, 4)
	p1, p2 := filepath.Join(dir, "one.tar"), filepath.Join(dir, "two.tar")
	for _, p := range []string{p1, p2} {
		require.NoError(t, WriteOCITarball(ctx, p, img, WithRefName("latest")))
	}
	b1, err := os.ReadFile(p1)
	require.NoError(t, err)
	b2, err := os.ReadFile(p2)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(b1, b2), "WriteOCITarball twice gave different bytes (%d, %d)", len(b1), len(b2))
	l, err := ReadOCITarball(p1)
	require.NoError(t, err)
	defer l.Close()
	for _, ref := range []string{"latest", ""} {
		got, err := l.Image(ref)
		require.NoError(t, err, "Image(%q)", ref)
		checkImage(t, got)
		assert.Equal(t, digestOf(t, img), digestOf(t, got), "Image(%q) digest", ref)
	}
	assert.Equal(t, []string{"one.tar", "two.tar"}, itest.DirNames(t, dir), "dir (the two tarballs only)")
}

func TestDockerTarball(t *testing.T) {
	for _, b := range testBases(t) {
		img := mustBuild(t, b.img, WithLayers(randomLayer(t, 9, types.OCILayer)))
		p := filepath.Join(t.TempDir(), "img.tar")
		require.NoError(t, WriteDockerTarball(t.Context(), p, "example.com/app:v1", img))
		got, err := tarball.ImageFromPath(p, nil)
		require.NoError(t, err)
		// docker archives hold no manifest: compare config and layers.
		gc, err := got.ConfigName()
		require.NoError(t, err)
		wc, err := img.ConfigName()
		require.NoError(t, err)
		assert.Equal(t, wc, gc, "%s: config", b.name)
		assert.NoError(t, validateFast(got), b.name)
	}
	err := WriteDockerTarball(t.Context(), filepath.Join(t.TempDir(), "x.tar"), "", testImage(t, 1))
	assert.Error(t, err, `WriteDockerTarball(tag "")`)
}

// failingLayer reports the digests of a real layer but fails reading its
// blob after a few bytes.
type failingLayer struct {
	v1.Layer
}

var errBroken = errors.New("disk on fire")

func (l failingLayer) Compressed() (io.ReadCloser, error) {
	rc, err := l.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.MultiReader(io.LimitReader(rc, 100), errReader{}), rc}, nil
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errBroken }

// TestWriteFailuresLeaveNothing: a cancelled or failing write leaves no
// file at the target and no temp file, for every output.
func TestWriteFailuresLeaveNothing(t *testing.T) {
	good := testImage(t, 5)
	bad, err := Build(t.Context(), configuredBase(t, mediatype.OCI), WithLayers(failingLayer{randomLayer(t, 6, types.OCILayer)}))
	require.NoError(t, err)
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	writers := map[string]func(ctx context.Context, target string, img v1.Image) error{
		"WriteOCITarball": func(ctx context.Context, p string, img v1.Image) error { return WriteOCITarball(ctx, p, img) },
		"WriteDockerTarball": func(ctx context.Context, p string, img v1.Image) error {
			return WriteDockerTarball(ctx, p, "app:v1", img)
		},
		"WriteOCILayout": func(ctx context.Context, p string, img v1.Image) error { return WriteOCILayout(ctx, p, img) },
	}
	for name, write := range writers {
		for _, tc := range []struct {
			what string
			ctx  context.Context
			img  v1.Image
			want error
		}{
			{"cancelled", cancelled, good, context.Canceled},
			{"failing layer", t.Context(), bad, errBroken},
		} {
			dir := t.TempDir()
			target := filepath.Join(dir, "out")
			err := write(tc.ctx, target, tc.img)
			assert.ErrorIs(t, err, tc.want, "%s(%s)", name, tc.what)
			assert.Empty(t, itest.DirNames(t, dir), "%s(%s) left files", name, tc.what)
		}
	}

	// A failed write into an existing layout leaves it as it was.
	dir := filepath.Join(t.TempDir(), "layout")
	require.NoError(t, WriteOCILayout(t.Context(), dir, good, WithRefName("good")))
	before := treeOf(t, dir)
	err = WriteOCILayout(t.Context(), dir, bad, WithRefName("good"))
	require.ErrorIs(t, err, errBroken, "WriteOCILayout(bad)")
	assert.Equal(t, before, treeOf(t, dir), "the layout after a failed write")
}

// treeOf lists every file under dir with its size and content hash.
func treeOf(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		h, _, _ := v1.SHA256(bytes.NewReader(b))
		rel, _ := filepath.Rel(dir, p)
		out = append(out, rel+" "+h.Hex[:12])
		return nil
	})
	require.NoError(t, err)
	return out
}

func TestReadRejectsTampering(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "layout")
	img := testImage(t, 7)
	require.NoError(t, WriteOCILayout(t.Context(), dir, img, WithRefName("x")))
	m := manifestOf(t, img)
	d := m.Layers[len(m.Layers)-1].Digest
	p := filepath.Join(dir, "blobs", "sha256", d.Hex)
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	b[len(b)/2] ^= 0xff
	require.NoError(t, os.WriteFile(p, b, 0o644))
	l, err := ReadOCILayout(dir)
	require.NoError(t, err)
	defer l.Close()
	got, err := l.Image("x")
	require.NoError(t, err)
	ly, err := got.LayerByDigest(d)
	require.NoError(t, err)
	rc, err := ly.Compressed()
	require.NoError(t, err)
	defer rc.Close()
	_, err = io.ReadAll(rc)
	assert.ErrorIs(t, err, ErrBlobMismatch, "reading a tampered blob")
}

// TestFailedLayoutWriteIntoEmptyDir: a failed first write into an existing
// empty directory (t.TempDir, mkdir out) leaves it empty, so the next
// write makes a layout there instead of refusing a directory that is "not
// an OCI layout".
func TestFailedLayoutWriteIntoEmptyDir(t *testing.T) {
	bad, err := Build(t.Context(), configuredBase(t, mediatype.OCI), WithLayers(failingLayer{randomLayer(t, 6, types.OCILayer)}))
	require.NoError(t, err)
	dir := t.TempDir()
	err = WriteOCILayout(t.Context(), dir, bad, WithRefName("bad"))
	require.ErrorIs(t, err, errBroken, "WriteOCILayout(bad)")
	assert.Empty(t, itest.DirNames(t, dir), "WriteOCILayout(bad) into an empty dir left files")

	good := testImage(t, 5)
	require.NoError(t, WriteOCILayout(t.Context(), dir, good, WithRefName("good")), "WriteOCILayout(good) after a failed write")
	l, err := ReadOCILayout(dir)
	require.NoError(t, err)
	defer l.Close()
	got, err := l.Image("good")
	require.NoError(t, err)
	assert.Equal(t, digestOf(t, good), digestOf(t, got), `Image("good") digest`)
}

// tamperedLayer reports the digests and size of a real layer, but its
// blob has one byte changed: a tarball rewritten after Build, say.
type tamperedLayer struct {
	v1.Layer
}

func (l tamperedLayer) Compressed() (io.ReadCloser, error) {
	rc, err := l.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, err
	}
	b[len(b)/2] ^= 0xff
	return io.NopCloser(bytes.NewReader(b)), nil
}

// TestWritersCheckBlobDigests: every writer checks each blob against its
// digest (as the package doc promises), so a blob that changed since
// Build fails the write instead of producing an output that its reader
// rejects later.
func TestWritersCheckBlobDigests(t *testing.T) {
	img, err := Build(t.Context(), configuredBase(t, mediatype.OCI), WithLayers(tamperedLayer{randomLayer(t, 8, types.OCILayer)}))
	require.NoError(t, err)
	writers := map[string]func(p string) error{
		"WriteOCITarball":    func(p string) error { return WriteOCITarball(t.Context(), p, img) },
		"WriteOCILayout":     func(p string) error { return WriteOCILayout(t.Context(), p, img) },
		"WriteDockerTarball": func(p string) error { return WriteDockerTarball(t.Context(), p, "app:v1", img) },
	}
	for name, write := range writers {
		dir := t.TempDir()
		err := write(filepath.Join(dir, "out"))
		assert.ErrorIs(t, err, ErrBlobMismatch, "%s(image with a tampered layer)", name)
		assert.Empty(t, itest.DirNames(t, dir), "%s(image with a tampered layer) left files", name)
	}
}
