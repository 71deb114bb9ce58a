package image

import (
	"fmt"
	"io/fs"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/lazypull"
	"github.com/stevedore-dev/stevedore/internal/lazypull/lazypulltest"
	"github.com/stevedore-dev/stevedore/internal/mediatype"
	"github.com/stevedore-dev/stevedore/layer"
)

var lazyCompressions = []layer.Compression{layer.EStargz, layer.ZstdChunked}

// lazyLayer is a layer of format c with a few kinds of entry, the
// entrypoint prioritized.
func lazyLayer(t testing.TB, c layer.Compression, seed byte, opts ...layer.Option) v1.Layer {
	t.Helper()
	big := make([]byte, 3<<20)
	for i := range big {
		big[i] = byte(i*7) ^ seed
	}
	l, err := layer.FromFiles([]layer.File{
		{Path: "/app/run", Data: []byte("#!/bin/sh\necho run\n"), Mode: 0o755},
		{Path: "/app/data.bin", Data: big},
		{Path: "/app/current", Linkname: "run", Mode: fs.ModeSymlink},
		{Path: "/var/cache/app", Mode: fs.ModeDir | 0o700},
	}, append([]layer.Option{layer.WithCompression(c), layer.WithPrioritizedFiles("/app/run")}, opts...)...)
	require.NoError(t, err)
	return l
}

// TestBuildLazyLayers: the annotations of an eStargz or zstd:chunked
// layer reach the descriptor Build writes, on an OCI and a Docker base,
// through WithLayerHistory's wrapper; the estargz library verifies the
// image's blob against them; and they survive ToOCI, an OCI layout, and
// a build on the result.
func TestBuildLazyLayers(t *testing.T) {
	for _, fam := range []mediatype.Family{mediatype.OCI, mediatype.Docker} {
		for _, c := range lazyCompressions {
			t.Run(fam.String()+"/"+c.String(), func(t *testing.T) {
				img := mustBuild(t, configuredBase(t, fam), WithLayerHistory("COPY app /app", lazyLayer(t, c, 1)))
				checkImage(t, img)
				m := manifestOf(t, img)
				d := m.Layers[len(m.Layers)-1]
				wantMT := map[layer.Compression]types.MediaType{layer.EStargz: types.OCILayer, layer.ZstdChunked: types.OCILayerZStd}[c]
				if fam == mediatype.Docker && c == layer.EStargz {
					wantMT = types.DockerLayer
				}
				assert.Equal(t, wantMT, d.MediaType, "media type of the added layer")
				for _, base := range m.Layers[:len(m.Layers)-1] {
					assert.Nil(t, base.Annotations, "annotations of base layer %s", base.Digest)
				}
				ls, err := img.Layers()
				require.NoError(t, err)
				lazypulltest.VerifyLayer(t, ls[len(ls)-1], d.Annotations)
				own, err := ls[len(ls)-1].(layer.Annotated).Annotations()
				require.NoError(t, err)
				assert.Equal(t, own, d.Annotations, "the image layer's Annotations() = its descriptor's")

				oci, err := ToOCI(img)
				require.NoError(t, err)
				assert.Equal(t, d.Annotations, lastDescriptor(t, oci.(v1.Image)).Annotations, "after ToOCI")

				read := throughLayout(t, img)
				assert.Equal(t, d.Annotations, lastDescriptor(t, read).Annotations, "read back from an OCI layout")

				on := mustBuild(t, read, WithLayers(tarLayer(t, types.OCILayer, tarFile{name: "etc/more", body: "more"})))
				onm := manifestOf(t, on)
				assert.Equal(t, d.Annotations, onm.Layers[len(onm.Layers)-2].Annotations, "as a base layer of the next build")
			})
		}
	}
}

func lastDescriptor(t testing.TB, img v1.Image) v1.Descriptor {
	t.Helper()
	m := manifestOf(t, img)
	return m.Layers[len(m.Layers)-1]
}

// TestBuildLazyReproducible: builds of the same inputs, without the layer
// cache, with it cold and with it warm, give the same image digest and
// TOC digest.
func TestBuildLazyReproducible(t *testing.T) {
	for _, c := range lazyCompressions {
		cache := t.TempDir()
		var digests []v1.Hash
		var tocs []string
		for _, lopts := range [][]layer.Option{nil, {layer.WithCache(cache)}, {layer.WithCache(cache)}} {
			img := mustBuild(t, configuredBase(t, mediatype.OCI), WithLayers(lazyLayer(t, c, 2, lopts...)), WithWorkDir("/app"))
			digests = append(digests, digestOf(t, img))
			tocs = append(tocs, lastDescriptor(t, img).Annotations[lazypull.AnnotationTOCDigest])
		}
		assert.Equal(t, []v1.Hash{digests[0], digests[0], digests[0]}, digests, "%v image: no cache, cold, warm", c)
		assert.Equal(t, []string{tocs[0], tocs[0], tocs[0]}, tocs, "%v TOC digest: no cache, cold, warm", c)
		assert.NotEmpty(t, tocs[0])
	}
}

// TestBuildLazyPrioritizedOnBase: prioritized files placed on a base
// that has their parent directories come first all the same, their
// parents written with the base's mode (a 0700 /opt stays 0700); without
// prioritized files the parents are left to the base.
func TestBuildLazyPrioritizedOnBase(t *testing.T) {
	base := mustBuild(t, nil, WithLayers(tarLayer(t, types.OCILayer,
		tarFile{name: "opt/", dir: true, mode: 0o700},
		tarFile{name: "usr/", dir: true, mode: 0o755},
		tarFile{name: "usr/local/", dir: true, mode: 0o750},
		tarFile{name: "usr/local/bin/", dir: true, mode: 0o755},
	)))
	files := []layer.File{
		{Path: "/opt/data/x", Data: []byte("x")},
		{Path: "/usr/local/bin/app", Data: []byte("app"), Mode: 0o755},
		{Path: "/usr/local/bin/other", Data: []byte("other"), Mode: 0o755},
	}
	for _, c := range lazyCompressions {
		for _, tc := range []struct {
			prioritized []string
			want        []string // "name mode" of the first entries, the landmark last
		}{
			{nil, []string{lazypull.NoPrefetchLandmark + " 0", "opt/data 755", "opt/data/x 644", "usr/local/bin/app 755"}},
			{[]string{"/usr/local/bin/app", "/opt/data/x"}, []string{"usr 755", "usr/local 750", "usr/local/bin 755",
				"usr/local/bin/app 755", "opt 700", "opt/data 755", "opt/data/x 644", lazypull.PrefetchLandmark + " 0"}},
		} {
			opts := []layer.Option{layer.WithCompression(c)}
			if tc.prioritized != nil {
				opts = append(opts, layer.WithPrioritizedFiles(tc.prioritized...))
			}
			l, err := layer.FromFiles(files, opts...)
			require.NoError(t, err)
			img := mustBuild(t, base, WithLayers(l))
			ls, err := img.Layers()
			require.NoError(t, err)
			var got []string
			for _, e := range lazypulltest.VerifyLayer(t, ls[len(ls)-1], lastDescriptor(t, img).Annotations) {
				got = append(got, fmt.Sprintf("%s %o", e.Name, e.Mode))
			}
			require.GreaterOrEqual(t, len(got), len(tc.want))
			assert.Equal(t, tc.want, got[:len(tc.want)], "first entries of the %v layer, prioritized %q", c, tc.prioritized)
		}
	}
}
