package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/attest"
	"github.com/stevedore-dev/stevedore/registry"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

// pushAttested pushes img to target and, when sbom is set, its SBOM and
// provenance as referrers (as examples/toolchain and goapp do by default).
func pushAttested(ctx context.Context, img v1.Image, target string, sbom bool) error {
	if _, err := registry.Push(ctx, target, img); err != nil {
		return err
	}
	if !sbom {
		return nil
	}
	arts, err := attest.Of(ctx, img, attest.Options{})
	if err != nil {
		return err
	}
	_, err = registry.PushReferrers(ctx, target, arts)
	return err
}

// BenchmarkSBOM measures what the SBOM and provenance add to the cold
// toolchain image (BenchmarkToolchainImage's stevedore way) and to the
// app image (BenchmarkAppImage's), side by side: "off" builds and pushes
// the image; "on" also makes both documents from what the build recorded
// and pushes them as referrers. Cold: a fresh registry and an empty layer
// cache before every run.
func BenchmarkSBOM(b *testing.B) {
	rel := goReleaseData(b)
	ko := koTarballData(b)
	bin := appBinaryData(b)
	ctx := context.Background()
	index := scratchDir(b, "index-")
	cases := []struct {
		key      string
		withBase bool
		build    func(srv *registrytest.Server, cache string) (v1.Image, error)
	}{
		{"toolchain", true, func(srv *registrytest.Server, cache string) (v1.Image, error) {
			return buildToolchain(ctx, cache, index, nil, srv.Ref(baseRepo), rel.Gz, ko)
		}},
		{"app", false, func(_ *registrytest.Server, cache string) (v1.Image, error) {
			return buildApp(ctx, cache, bin)
		}},
	}
	for _, c := range cases {
		for _, sbom := range []bool{false, true} {
			name := c.key + "-cold/sbom-" + map[bool]string{false: "off", true: "on"}[sbom]
			b.Run(name, func(b *testing.B) {
				cacheRoot := scratchDir(b, "cache-")
				var srv *registrytest.Server
				defer func() {
					if srv != nil {
						srv.Close()
					}
				}()
				var cache string
				n := 0
				setup := func() {
					if srv != nil {
						srv.Close()
					}
					srv = freshRegistry(b, c.withBase)
					os.RemoveAll(cache)
					n++
					cache = filepath.Join(cacheRoot, fmt.Sprint(n))
				}
				d := way(b, setup, func() {
					img, err := c.build(srv, cache)
					require.NoError(b, err)
					require.NoError(b, pushAttested(ctx, img, srv.Ref(toolchainRepo), sbom))
				})
				record(name, d)
				if sbom {
					reportRatio(b, d, c.key+"-cold/sbom-off", "x-off")
				}
			})
		}
	}
}
