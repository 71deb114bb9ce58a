package image

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stevedore-dev/stevedore/internal/mediatype"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// testImage is a small OCI image with one added layer.
func testImage(t testing.TB, seed int64) v1.Image {
	return mustBuild(t, configuredBase(t, mediatype.OCI), WithLayers(randomLayer(t, seed, types.OCILayer)), WithEnv("SEED", string(rune('a'+seed))))
}

// dirNames lists the names in dir, for "no temp file left" checks.
func dirNames(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestOCILayoutRoundTrip(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "layout")
	a, b := testImage(t, 1), testImage(t, 2)
	if err := WriteOCILayout(ctx, dir, a, WithRefName("a")); err != nil {
		t.Fatal(err)
	}
	if err := WriteOCILayout(ctx, dir, b, WithRefName("b")); err != nil {
		t.Fatal(err)
	}
	// Writing b again without a name does not duplicate an entry.
	if err := WriteOCILayout(ctx, dir, a); err != nil {
		t.Fatal(err)
	}
	if err := WriteOCILayout(ctx, dir, a); err != nil {
		t.Fatal(err)
	}
	l, err := ReadOCILayout(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for name, want := range map[string]v1.Image{"a": a, "b": b} {
		got, err := l.Image(name)
		if err != nil {
			t.Fatalf("Image(%q): %v", name, err)
		}
		checkImage(t, got)
		if g, w := digestOf(t, got), digestOf(t, want); g != w {
			t.Errorf("Image(%q) digest = %s, want %s", name, g, w)
		}
	}
	im, _ := l.Index().IndexManifest()
	if len(im.Manifests) != 3 {
		t.Errorf("index.json entries = %d, want 3 (a, b, unnamed a)", len(im.Manifests))
	}
	if _, err := l.Image(""); !errors.Is(err, ErrAmbiguous) {
		t.Errorf("Image(\"\") error = %v, want ErrAmbiguous", err)
	}
	if _, err := l.Image("nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Image(nope) error = %v, want ErrNotFound", err)
	}

	// Cross-check with ggcr's own layout reader.
	p, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	gi, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	gimg, err := gi.Image(digestOf(t, b))
	if err != nil {
		t.Fatal(err)
	}
	checkImage(t, gimg)

	// Moving a name replaces the entry that had it; the other stays.
	c := testImage(t, 3)
	if err := WriteOCILayout(ctx, dir, c, WithRefName("a")); err != nil {
		t.Fatal(err)
	}
	l2, err := ReadOCILayout(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := l2.Image("a")
	if err != nil || digestOf(t, got) != digestOf(t, c) {
		t.Errorf("after moving name a: Image(a) = %v, %v, want %s", got, err, digestOf(t, c))
	}
	if got, err := l2.Image("b"); err != nil || digestOf(t, got) != digestOf(t, b) {
		t.Errorf("after moving name a: Image(b) = %v, %v, want %s", got, err, digestOf(t, b))
	}
	if n := dirNames(t, dir); !slices.Equal(n, []string{"blobs", "index.json", "oci-layout"}) {
		t.Errorf("layout dir holds %q, want blobs, index.json, oci-layout only", n)
	}
}

func TestOCITarballRoundTrip(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	img := testImage(t, 4)
	p1, p2 := filepath.Join(dir, "one.tar"), filepath.Join(dir, "two.tar")
	for _, p := range []string{p1, p2} {
		if err := WriteOCITarball(ctx, p, img, WithRefName("latest")); err != nil {
			t.Fatal(err)
		}
	}
	b1, _ := os.ReadFile(p1)
	b2, _ := os.ReadFile(p2)
	if string(b1) != string(b2) {
		t.Errorf("WriteOCITarball twice gave different bytes (%d, %d)", len(b1), len(b2))
	}
	l, err := ReadOCITarball(p1)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, ref := range []string{"latest", ""} {
		got, err := l.Image(ref)
		if err != nil {
			t.Fatalf("Image(%q): %v", ref, err)
		}
		checkImage(t, got)
		if digestOf(t, got) != digestOf(t, img) {
			t.Errorf("Image(%q) digest = %s, want %s", ref, digestOf(t, got), digestOf(t, img))
		}
	}
	if n := dirNames(t, dir); !slices.Equal(n, []string{"one.tar", "two.tar"}) {
		t.Errorf("dir holds %q, want the two tarballs only", n)
	}
}

func TestDockerTarball(t *testing.T) {
	for _, b := range testBases(t) {
		img := mustBuild(t, b.img, WithLayers(randomLayer(t, 9, types.OCILayer)))
		p := filepath.Join(t.TempDir(), "img.tar")
		if err := WriteDockerTarball(t.Context(), p, "example.com/app:v1", img); err != nil {
			t.Fatal(err)
		}
		got, err := tarball.ImageFromPath(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		// docker archives hold no manifest: compare config and layers.
		gc, _ := got.ConfigName()
		wc, _ := img.ConfigName()
		if gc != wc {
			t.Errorf("%s: config = %s, want %s", b.name, gc, wc)
		}
		if err := validateFast(got); err != nil {
			t.Errorf("%s: %v", b.name, err)
		}
	}
	if err := WriteDockerTarball(t.Context(), filepath.Join(t.TempDir(), "x.tar"), "", testImage(t, 1)); err == nil {
		t.Error("WriteDockerTarball(tag \"\") succeeded, want an error")
	}
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
	if err != nil {
		t.Fatal(err)
	}
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
			if !errors.Is(err, tc.want) {
				t.Errorf("%s(%s) error = %v, want %v", name, tc.what, err, tc.want)
			}
			if n := dirNames(t, dir); len(n) != 0 {
				t.Errorf("%s(%s) left %q", name, tc.what, n)
			}
		}
	}

	// A failed write into an existing layout leaves it as it was.
	dir := filepath.Join(t.TempDir(), "layout")
	if err := WriteOCILayout(t.Context(), dir, good, WithRefName("good")); err != nil {
		t.Fatal(err)
	}
	before := treeOf(t, dir)
	if err := WriteOCILayout(t.Context(), dir, bad, WithRefName("good")); !errors.Is(err, errBroken) {
		t.Fatalf("WriteOCILayout(bad) error = %v, want errBroken", err)
	}
	if after := treeOf(t, dir); !slices.Equal(before, after) {
		t.Errorf("failed write changed the layout:\nbefore %q\nafter  %q", before, after)
	}
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
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestReadRejectsTampering(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "layout")
	img := testImage(t, 7)
	if err := WriteOCILayout(t.Context(), dir, img, WithRefName("x")); err != nil {
		t.Fatal(err)
	}
	m := manifestOf(t, img)
	d := m.Layers[len(m.Layers)-1].Digest
	p := filepath.Join(dir, "blobs", "sha256", d.Hex)
	b, _ := os.ReadFile(p)
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := ReadOCILayout(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := l.Image("x")
	if err != nil {
		t.Fatal(err)
	}
	ly, err := got.LayerByDigest(d)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := ly.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadAll(rc); !errors.Is(err, ErrBlobMismatch) {
		t.Errorf("reading a tampered blob: error = %v, want ErrBlobMismatch", err)
	}
}
