package bench

import (
	"context"
	"io"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/layer"
)

// discardCount reads rc to the end and closes it, returning the bytes
// read.
func discardCount(rc io.ReadCloser) (int64, error) {
	defer rc.Close()
	return io.Copy(io.Discard, rc)
}

// BenchmarkSkipUnchanged adds the Go release at /usr/local/go to a base
// that already ships part of it (go/src and go/lib, as a distribution's
// golang-src package would), with and without image.WithSkipUnchanged,
// and reports the added layer's compressed size (layer-MB) and the bytes
// the option saves (saved-MB).
func BenchmarkSkipUnchanged(b *testing.B) {
	ctx := context.Background()
	rel := goReleaseData(b)
	shipped, err := layer.FromTarball(rel.Gz, layer.WithOnly("go/src", "go/lib"), layer.WithRoot("/usr/local"))
	require.NoError(b, err)
	tb, err := baseImage()
	require.NoError(b, err)
	base, err := image.Build(ctx, tb, image.WithLayers(shipped))
	require.NoError(b, err)
	index := scratchDir(b, "index-")
	var plainSize int64
	for _, skip := range []bool{false, true} {
		name := map[bool]string{false: "all", true: "skip-unchanged"}[skip]
		b.Run(name, func(b *testing.B) {
			b.SetBytes(rel.TarSize)
			var size int64
			way(b, nil, func() {
				goL, err := layer.FromTarball(rel.Gz, layer.WithOnly("go"), layer.WithRoot("/usr/local"), layer.WithTempDir(scratchDir(b, "spool-")))
				require.NoError(b, err)
				opts := []image.Option{image.WithCache(index), image.WithLayers(goL)}
				if skip {
					opts = append(opts, image.WithSkipUnchanged())
				}
				img, err := image.Build(ctx, base, opts...)
				require.NoError(b, err)
				size = lastLayerSize(b, img)
			})
			b.ReportMetric(float64(size)/1e6, "layer-MB")
			if !skip {
				plainSize = size
			} else if plainSize > 0 {
				b.ReportMetric(float64(plainSize-size)/1e6, "saved-MB")
			}
		})
	}
}

func lastLayerSize(b *testing.B, img v1.Image) int64 {
	m, err := img.Manifest()
	require.NoError(b, err)
	return m.Layers[len(m.Layers)-1].Size
}
