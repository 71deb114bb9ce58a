package e2e

import (
	"slices"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/internal/lazypull"
	"github.com/stevedore-dev/stevedore/internal/lazypull/lazypulltest"
	"github.com/stevedore-dev/stevedore/layer"
)

// lazy builds, on the busybox-style base, an image whose added layer is
// of the lazily pullable format c, its binary prioritized, checks the
// layer with the estargz library, and has every consumer read, unpack
// and run it: to them an eStargz layer is a gzip layer, a zstd:chunked
// one a zstd layer (converted to gzip for umoci), and the format's own
// files (the landmark, eStargz's TOC) land at the root of the rootfs.
func (e *consumerEnv) lazy(t *testing.T, base v1.Image, bin []byte, c layer.Compression) {
	l, err := layer.FromFiles([]layer.File{
		{Path: "/usr/local/bin/hello", Data: bin, Mode: 0o755},
		{Path: "/etc/lazy", Data: []byte("pulled lazily\n")},
	}, layer.WithCompression(c), layer.WithPrioritizedFiles("/usr/local/bin/hello"))
	require.NoError(t, err)
	img := build(t, base, image.WithLayers(l), image.WithEntrypoint("/usr/local/bin/hello", "cat", "/etc/lazy"))
	m, err := img.Manifest()
	require.NoError(t, err)
	d := m.Layers[len(m.Layers)-1]
	wantMT := map[layer.Compression]types.MediaType{layer.EStargz: types.OCILayer, layer.ZstdChunked: types.OCILayerZStd}[c]
	require.Equal(t, wantMT, d.MediaType, "media type of the %v layer", c)
	verifyTOCs(t, img, 1)

	rootfs := append(busyboxBaseRootfs(), "etc/lazy f 0644 0:0", "usr/local d 0755 0:0", "usr/local/bin d 0755 0:0",
		"usr/local/bin/hello f 0755 0:0", lazypull.PrefetchLandmark+" f 0000 0:0")
	if c == layer.EStargz {
		rootfs = append(rootfs, lazypull.TOCTarName+" f 0000 0:0")
	}
	e.consume(t, map[layer.Compression]string{layer.EStargz: "estargz", layer.ZstdChunked: "zstd-chunked"}[c], img, expectation{
		rootfs:   rootfs,
		contents: map[string]string{"etc/lazy": "pulled lazily\n", lazypull.PrefetchLandmark: "\x0f"},
		runs:     []run{{want: "pulled lazily\n"}},
		zstd:     c == layer.ZstdChunked,
		tocs:     1,
	})
}

// verifyTOCs checks every layer of img whose descriptor names a table of
// contents with the estargz library (see lazypulltest.Verify), and that
// there are want of them.
func verifyTOCs(t *testing.T, img v1.Image, want int) {
	t.Helper()
	m, err := img.Manifest()
	require.NoError(t, err)
	ls, err := img.Layers()
	require.NoError(t, err)
	n := 0
	for i, d := range m.Layers {
		if _, ok := d.Annotations[lazypull.AnnotationTOCDigest]; !ok {
			continue
		}
		n++
		entries := lazypulltest.VerifyLayer(t, ls[i], d.Annotations)
		assert.True(t, slices.ContainsFunc(entries, func(e lazypulltest.Entry) bool { return e.Name == "usr/local/bin/hello" }),
			"layer %s holds the binary", d.Digest)
	}
	assert.Equal(t, want, n, "layers with a table of contents")
}
