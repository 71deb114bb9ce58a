package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"iter"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/stevedore-dev/stevedore/internal/compress"
	"github.com/stevedore-dev/stevedore/internal/mediatype"
	"github.com/stevedore-dev/stevedore/internal/tartest"

	"github.com/google/go-containerregistry/pkg/compression"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/stretchr/testify/require"
)

// tarFile is one entry of a hand-made test tarball.
type tarFile struct {
	name string
	body string
	mode int64
	dir  bool
	typ  byte   // another type than a file or directory (tar.TypeSymlink, ...)
	link string // its link target
}

// tarBytes builds an uncompressed PAX tar of files with tartest: mtime
// 0, owner 0:0, mode 0644 where a file sets none.
func tarBytes(t testing.TB, files ...tarFile) []byte {
	t.Helper()
	ents := make([]tartest.Entry, len(files))
	for i, f := range files {
		e := tartest.File(f.name, f.body)
		switch {
		case f.typ != 0:
			e = tartest.Entry{Header: tar.Header{Typeflag: f.typ, Name: f.name, Linkname: f.link}}
		case f.dir:
			e = tartest.Dir(f.name)
		}
		if f.mode == 0 {
			f.mode = 0o644
		}
		ents[i] = e.WithMode(f.mode)
	}
	return tartest.New(ents...).WithModTime(time.Unix(0, 0)).WithFormat(tar.FormatPAX).Bytes(t)
}

// tarLayer is a ggcr tarball layer of files, with the media type mt and
// the compression mt names.
func tarLayer(t testing.TB, mt types.MediaType, files ...tarFile) v1.Layer {
	t.Helper()
	b := tarBytes(t, files...)
	opts := []tarball.LayerOption{tarball.WithMediaType(mt)}
	switch mt {
	case types.OCILayerZStd:
		opts = append(opts, tarball.WithCompression(compression.ZStd))
	case types.OCIUncompressedLayer, types.DockerUncompressedLayer:
		// Uncompressed: the opener's bytes are the blob.
		l, err := uncompressedLayer(b, mt)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// historyLayer is a layer with a CreatedBy method, like the layer package's.
type historyLayer struct {
	v1.Layer
	by string
}

func (l historyLayer) CreatedBy() string { return l.by }

// randomLayer is a random gzip layer typed mt.
func randomLayer(t testing.TB, seed int64, mt types.MediaType) v1.Layer {
	t.Helper()
	l, err := random.Layer(256, mt, random.WithSource(rand.NewSource(seed)))
	require.NoError(t, err)
	return l
}

// testBase is a base image for the option tests.
type testBase struct {
	name string
	img  v1.Image
}

// randomBase is ggcr's random.Image: Docker schema 2, 2 layers, an empty
// config (no env, no cmd).
func randomBase(t testing.TB) v1.Image {
	t.Helper()
	img, err := random.Image(128, 2, random.WithSource(rand.NewSource(1)))
	require.NoError(t, err)
	return img
}

var baseCreated = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

// configuredBase is a base in family fam with the config of a typical
// distribution image.
func configuredBase(t testing.TB, fam mediatype.Family) v1.Image {
	t.Helper()
	var base v1.Image = empty.Image
	lt := types.DockerLayer
	if fam == mediatype.OCI {
		base = mutate.MediaType(base, types.OCIManifestSchema1)
		base = mutate.ConfigMediaType(base, types.OCIConfigJSON)
		lt = types.OCILayer
	}
	img, err := mutate.Append(base,
		mutate.Addendum{Layer: randomLayer(t, 10, lt), History: v1.History{CreatedBy: "ADD rootfs.tar /", Created: v1.Time{Time: baseCreated}}},
		mutate.Addendum{Layer: randomLayer(t, 11, lt), History: v1.History{CreatedBy: "RUN apt-get install", Created: v1.Time{Time: baseCreated}}},
	)
	require.NoError(t, err)
	cf, err := img.ConfigFile()
	require.NoError(t, err)
	cf.OS, cf.Architecture = "linux", "arm64"
	cf.Created = v1.Time{Time: baseCreated}
	cf.History = append(cf.History, v1.History{CreatedBy: `CMD ["bash"]`, EmptyLayer: true, Created: v1.Time{Time: baseCreated}})
	cf.Config = v1.Config{
		Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/root", "LANG=C.UTF-8"},
		Cmd:        []string{"bash"},
		WorkingDir: "/srv",
		User:       "0",
		Labels:     map[string]string{"base": "yes"},
	}
	img, err = mutate.ConfigFile(img, cf)
	require.NoError(t, err)
	return img
}

func testBases(t testing.TB) []testBase {
	return []testBase{
		{"random", randomBase(t)},
		{"oci", configuredBase(t, mediatype.OCI)},
		{"docker", configuredBase(t, mediatype.Docker)},
	}
}

// refImage is an image that says where it came from, as registry.Pull's do.
type refImage struct {
	v1.Image
	ref name.Reference
}

func (i refImage) Reference() name.Reference { return i.ref }

// checkImage runs every image check: ggcr's validate.Image, history
// alignment, one media type family, the image spec's JSON schemas.
func checkImage(t testing.TB, img v1.Image) {
	t.Helper()
	// ggcr's validate.Image decompresses every layer with gzip, so it
	// cannot check zstd or uncompressed layers: for images with those, run
	// its fast mode plus our own layer check.
	if allGzip(t, img) {
		require.NoError(t, validate.Image(img), "validate.Image")
	} else {
		require.NoError(t, validate.Image(img, validate.Fast), "validate.Image(Fast)")
		checkLayerBytes(t, img)
	}
	assertHistoryAligned(t, img)
	assertOneFamily(t, img)
	checkSchemas(t, img)
}

// checkIndex runs validate.Index and the image checks on every child.
func checkIndex(t testing.TB, idx v1.ImageIndex) {
	t.Helper()
	// Fast: the layers are checked per image by checkImage below (ggcr's
	// full mode only reads gzip layers).
	require.NoError(t, validate.Index(idx, validate.Fast), "validate.Index")
	assertOneFamily(t, idx)
	checkSchemas(t, idx)
	for _, img := range indexImages(t, idx) {
		checkImage(t, img)
	}
}

// indexImages yields each entry of idx's manifest with its image, in
// order.
func indexImages(t testing.TB, idx v1.ImageIndex) iter.Seq2[v1.Descriptor, v1.Image] {
	t.Helper()
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	return func(yield func(v1.Descriptor, v1.Image) bool) {
		for _, d := range im.Manifests {
			img, err := idx.Image(d.Digest)
			require.NoError(t, err)
			if !yield(d, img) {
				return
			}
		}
	}
}

// layersWrapped is an image whose layers are wrapped by wrap: a base
// whose layers check or count how Build reads them.
type layersWrapped struct {
	v1.Image
	wrap func(v1.Layer) v1.Layer
}

func (i layersWrapped) Layers() ([]v1.Layer, error) {
	ls, err := i.Image.Layers()
	for j := range ls {
		ls[j] = i.wrap(ls[j])
	}
	return ls, err
}

// assertHistoryAligned checks that history entries without empty_layer
// match rootfs.diff_ids one to one (ggcr's validate does not check it).
func assertHistoryAligned(t testing.TB, img v1.Image) {
	t.Helper()
	cf, err := img.ConfigFile()
	require.NoError(t, err)
	if len(cf.History) == 0 && len(cf.RootFS.DiffIDs) == 0 {
		return
	}
	n := 0
	for _, h := range cf.History {
		if !h.EmptyLayer {
			n++
		}
	}
	require.Equal(t, len(cf.RootFS.DiffIDs), n, "non-empty history entries (one per rootfs.diff_ids)")
}

// assertOneFamily checks that every media type of a (index, manifests,
// configs, layers, both as descriptors and as layer.MediaType()) is OCI, or
// every one is Docker.
func assertOneFamily(t testing.TB, a Artifact) {
	t.Helper()
	var seen []string
	var add func(what string, mt types.MediaType)
	add = func(what string, mt types.MediaType) {
		seen = append(seen, what+"="+string(mt))
	}
	var walk func(a Artifact)
	walk = func(a Artifact) {
		mt, err := a.MediaType()
		require.NoError(t, err)
		add("artifact", mt)
		switch a := a.(type) {
		case v1.Image:
			m, err := a.Manifest()
			require.NoError(t, err)
			add("manifest.mediaType", m.MediaType)
			add("config", m.Config.MediaType)
			ls, err := a.Layers()
			require.NoError(t, err)
			for i, d := range m.Layers {
				add("layer descriptor", d.MediaType)
				lmt, err := ls[i].MediaType()
				require.NoError(t, err)
				add("layer", lmt)
			}
		case v1.ImageIndex:
			im, err := a.IndexManifest()
			require.NoError(t, err)
			add("index.mediaType", im.MediaType)
			for d, img := range indexImages(t, a) {
				add("index entry", d.MediaType)
				walk(img)
			}
		}
	}
	walk(a)
	oci, docker := 0, 0
	for _, s := range seen {
		switch {
		case strings.Contains(s, "vnd.oci."):
			oci++
		case strings.Contains(s, "vnd.docker."):
			docker++
		default:
			require.Failf(t, "media type of neither family", "%s", s)
		}
	}
	require.False(t, oci > 0 && docker > 0, "image mixes OCI and Docker media types: %s", strings.Join(seen, ", "))
}

func mustBuild(t testing.TB, base v1.Image, opts ...Option) v1.Image {
	t.Helper()
	img, err := Build(t.Context(), base, opts...)
	require.NoError(t, err, "Build")
	checkImage(t, img)
	return img
}

func configOf(t testing.TB, img v1.Image) *v1.ConfigFile {
	t.Helper()
	cf, err := img.ConfigFile()
	require.NoError(t, err)
	return cf
}

func manifestOf(t testing.TB, img v1.Image) *v1.Manifest {
	t.Helper()
	m, err := img.Manifest()
	require.NoError(t, err)
	return m
}

func digestOf(t testing.TB, a Artifact) v1.Hash {
	t.Helper()
	d, err := a.Digest()
	require.NoError(t, err)
	return d
}

// uncompressedLayer is a layer whose blob is the tar b itself.
func uncompressedLayer(b []byte, mt types.MediaType) (v1.Layer, error) {
	return static.NewLayer(b, mt), nil
}

var errCanceled = context.Canceled

func contextWithCancel(t testing.TB) (context.Context, context.CancelFunc) {
	return context.WithCancel(t.Context())
}

func mutateConfigFile(img v1.Image, cf *v1.ConfigFile) (v1.Image, error) {
	return mutate.ConfigFile(img, cf)
}

func allGzip(t testing.TB, img v1.Image) bool {
	m, err := img.Manifest()
	require.NoError(t, err)
	for _, d := range m.Layers {
		if k, ok := mediatype.LayerKind(d.MediaType); !ok || k.Compression != compress.Gzip {
			return false
		}
	}
	return true
}

// checkLayerBytes does what validate.Image does for layers of any
// compression: digest and size of the blob, diff ID of its decompressed
// bytes (decompressed here by the media type's algorithm), against the
// manifest and config.
func checkLayerBytes(t testing.TB, img v1.Image) {
	t.Helper()
	m := manifestOf(t, img)
	cf := configOf(t, img)
	ls, err := img.Layers()
	require.NoError(t, err)
	require.Len(t, ls, len(m.Layers), "layers (one per manifest entry)")
	require.Len(t, cf.RootFS.DiffIDs, len(m.Layers), "rootfs.diff_ids (one per manifest entry)")
	for i, l := range ls {
		rc, err := l.Compressed()
		require.NoError(t, err)
		blob, err := io.ReadAll(rc)
		require.NoError(t, err, "layer %d", i)
		require.NoError(t, rc.Close(), "layer %d", i)
		d, size, err := v1.SHA256(bytes.NewReader(blob))
		require.NoError(t, err)
		require.Equal(t, m.Layers[i].Digest, d, "layer %d: digest of the blob (the manifest's)", i)
		require.Equal(t, m.Layers[i].Size, size, "layer %d: size of the blob (the manifest's)", i)
		k, _ := mediatype.LayerKind(m.Layers[i].MediaType)
		var r io.Reader = bytes.NewReader(blob)
		switch k.Compression {
		case compress.Gzip:
			r, err = gzip.NewReader(r)
			require.NoError(t, err, "layer %d", i)
		case compress.Zstd:
			zr, err := zstd.NewReader(r)
			require.NoError(t, err, "layer %d", i)
			defer zr.Close()
			r = zr
		}
		diffID, _, err := v1.SHA256(r)
		require.NoError(t, err, "layer %d: decompressing", i)
		require.Equal(t, cf.RootFS.DiffIDs[i], diffID, "layer %d: diff ID (the config's)", i)
		lmt, err := l.MediaType()
		require.NoError(t, err)
		require.Equal(t, m.Layers[i].MediaType, lmt, "layer %d: MediaType() (the manifest's)", i)
	}
}

func validateFast(img v1.Image) error { return validate.Image(img, validate.Fast) }

func mustAppend(t testing.TB, base v1.Image, l v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(base, l)
	require.NoError(t, err)
	return img
}

func emptyImage() v1.Image { return empty.Image }
