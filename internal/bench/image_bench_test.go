package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/layer"
	"github.com/stevedore-dev/stevedore/registry"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

const (
	baseRepo      = "library/base:12"
	toolchainRepo = "team/toolchain:go"
	appRepo       = "team/hello:latest"
)

// baseImage is the toolchain base: an OCI image of two layers, ~8 MB of
// files (a stand-in for a slim distribution base), made once per process.
var baseImage = sync.OnceValues(func() (v1.Image, error) {
	rng := rand.New(rand.NewPCG(1, 2))
	var files []layer.File
	for i := range 200 {
		files = append(files, layer.File{
			Path: fmt.Sprintf("/usr/share/doc/pkg%03d/copyright", i),
			Data: fill(nil, rng, 30<<10, false),
		})
	}
	files = append(files, layer.File{Path: "/usr/lib/libstandin.so", Data: fill(nil, rng, 2<<20, true), Mode: 0o755})
	etc, err := layer.FromFiles([]layer.File{
		{Path: "/etc/passwd", Data: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n")},
		{Path: "/etc/group", Data: []byte("root:x:0:\nnogroup:x:65534:\n")},
	})
	if err != nil {
		return nil, err
	}
	usr, err := layer.FromFiles(files)
	if err != nil {
		return nil, err
	}
	return image.Build(context.Background(), nil,
		image.WithPlatform("linux/amd64"),
		image.WithLayers(usr, etc),
		image.WithEnv("PATH", image.DefaultPath))
})

// freshRegistry starts an in-process registry holding the base (when
// withBase) and nothing else.
func freshRegistry(b testing.TB, withBase bool) *registrytest.Server {
	b.Helper()
	srv, err := registrytest.Start()
	require.NoError(b, err)
	if withBase {
		base, err := baseImage()
		require.NoError(b, err)
		_, err = registry.Push(context.Background(), srv.Ref(baseRepo), base)
		require.NoError(b, err)
	}
	return srv
}

// oursToolchain is stevedore's way to build and push the toolchain image,
// as examples/toolchain does it: each layer is uploaded while the next is
// built (image.WithLayerBuilt and a registry.Pusher); index keeps the
// index of the base's files that layers are placed on (image.WithCache);
// rc, when not nil, is the layer cache shared by every machine
// (examples/toolchain's -cache-repo).
func oursToolchain(ctx context.Context, cache, index string, rc layer.RemoteCache, baseRef, target, goGz, koGz string) error {
	p, err := registry.NewPusher(ctx, target)
	if err != nil {
		return err
	}
	defer p.Close()
	img, err := buildToolchain(ctx, cache, index, rc, baseRef, goGz, koGz, image.WithLayerBuilt(p.Upload))
	if err != nil {
		return err
	}
	_, err = p.Push(img)
	return err
}

// buildToolchain builds the image oursToolchain pushes, with more image
// options.
func buildToolchain(ctx context.Context, cache, index string, rc layer.RemoteCache, baseRef, goGz, koGz string, more ...image.Option) (v1.Image, error) {
	base, err := registry.Pull(ctx, baseRef)
	if err != nil {
		return nil, err
	}
	caches := []layer.Option{layer.WithCache(cache)}
	iopts := []image.Option{
		image.WithCache(index),
		image.WithPathPrepend("/usr/local/go/bin"),
		image.WithEnv("CGO_ENABLED", "0"),
		image.WithEnv("GOFLAGS", "-trimpath"),
		image.WithWorkDir("/workspace"),
	}
	if rc != nil {
		caches = append(caches, layer.WithRemoteCache(rc))
		iopts = append(iopts, image.WithRemoteCache(rc))
	}
	goL, err := layer.FromTarball(goGz, slices.Concat(caches, []layer.Option{layer.WithOnly("go"), layer.WithRoot("/usr/local")})...)
	if err != nil {
		return nil, err
	}
	koL, err := layer.FromTarball(koGz, slices.Concat(caches, []layer.Option{layer.WithOnly("ko"), layer.WithRoot("/usr/local/bin")})...)
	if err != nil {
		return nil, err
	}
	return image.Build(ctx, base, slices.Concat(iopts, []image.Option{image.WithLayers(goL, koL)}, more)...)
}

// oursApp is stevedore's way to pack a static binary on scratch, as
// examples/goapp does it for one platform.
func oursApp(ctx context.Context, cache, bin, target string) error {
	img, err := buildApp(ctx, cache, bin)
	if err != nil {
		return err
	}
	_, err = registry.Push(ctx, target, img)
	return err
}

// buildApp builds the image oursApp pushes.
func buildApp(ctx context.Context, cache, bin string) (v1.Image, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, err
	}
	l, err := layer.FromFiles([]layer.File{{Path: "/app/hello", Data: data, Mode: 0o755}}, layer.WithCache(cache))
	if err != nil {
		return nil, err
	}
	return image.Build(ctx, nil,
		image.WithPlatform("linux/amd64"),
		image.WithLayers(l),
		image.WithEntrypoint("/app/hello"),
		image.WithUser("65532"))
}

// imageCase is one image job done both ways.
type imageCase struct {
	key      string
	bytes    int64
	withBase bool
	ggcr     func(ctx context.Context, srv *registrytest.Server, spool string) error
	ours     func(ctx context.Context, srv *registrytest.Server, cache, index string) error
}

// run adds the cold and warm sub-benchmarks of c to b.
//
// Cold: a fresh registry holding only the base, and for stevedore an
// empty layer cache, before every run. Warm: the same registry and cache
// across runs, after one untimed run, so the registry already holds every
// blob and the cache every layer; the plain way has no cache and
// re-tars and re-compresses. A warm stevedore run must upload no blob.
func (c imageCase) run(b *testing.B) {
	ctx := context.Background()
	spool := scratchDir(b, "spool-")
	// The base's file index outlives the cold runs' layer caches: the
	// figures are for a base already indexed (BenchmarkBaseIndex measures
	// the indexing).
	index := scratchDir(b, "index-")
	for _, phase := range []string{"cold", "warm"} {
		for _, who := range []string{"ggcr", "stevedore"} {
			b.Run(phase+"/"+who, func(b *testing.B) {
				if phase == "cold" {
					b.SetBytes(c.bytes)
				}
				var srv *registrytest.Server
				closeSrv := func() {
					if srv != nil {
						srv.Close()
						srv = nil
					}
				}
				defer closeSrv()
				cacheRoot := scratchDir(b, "cache-")
				cache := cacheRoot
				n := 0
				do := func() error {
					if who == "ggcr" {
						return c.ggcr(ctx, srv, spool)
					}
					return c.ours(ctx, srv, cache, index)
				}
				setup := func() {
					clearDir(spool)
					if phase == "cold" {
						closeSrv()
						srv = freshRegistry(b, c.withBase)
						os.RemoveAll(cache)
						n++
						cache = filepath.Join(cacheRoot, fmt.Sprint(n))
					}
					srv.ResetStats()
				}
				if phase == "warm" {
					srv = freshRegistry(b, c.withBase)
					require.NoError(b, do())
				}
				d := way(b, setup, func() { require.NoError(b, do()) })
				if phase == "warm" && who == "stevedore" {
					checkWarm(b, srv.Stats())
				}
				key := c.key + "-" + phase + "/" + who
				record(key, d)
				if who == "stevedore" {
					reportRatio(b, d, c.key+"-"+phase+"/ggcr", "x-ggcr")
				}
			})
		}
	}
}

// BenchmarkToolchainImage (suite item d) builds and pushes the toolchain
// image: the base pulled from an in-process registry, the Go release at
// /usr/local/go and ko at /usr/local/bin/ko as two layers, PATH,
// CGO_ENABLED, GOFLAGS and the working directory set, pushed to another
// repository of the same registry.
//
//   - ggcr: remote.Image, tarball.LayerFromReader of re-rooted tar streams,
//     mutate.AppendLayers, mutate.Config, remote.Write.
//   - stevedore: registry.Pull, layer.FromTarball with WithCache,
//     image.Build, registry.Push (as examples/toolchain).
func BenchmarkToolchainImage(b *testing.B) {
	rel := goReleaseData(b)
	ko := koTarballData(b)
	imageCase{
		key:      "toolchain",
		bytes:    rel.TarSize,
		withBase: true,
		ggcr: func(ctx context.Context, srv *registrytest.Server, spool string) error {
			return plainToolchain(ctx, spool, srv.Ref(baseRepo), srv.Ref(toolchainRepo), rel.Gz, ko)
		},
		ours: func(ctx context.Context, srv *registrytest.Server, cache, index string) error {
			return oursToolchain(ctx, cache, index, nil, srv.Ref(baseRepo), srv.Ref(toolchainRepo), rel.Gz, ko)
		},
	}.run(b)
	toolchainMachineB(b, rel.Gz, ko)
}

// BenchmarkAppImage (suite item e) packs a prebuilt static Go binary
// (examples/goapp's hello, ~2 MB) at /app/hello on scratch with an
// entrypoint and a non-root user, and pushes it.
//
//   - ggcr: archive/tar, tarball.LayerFromReader, mutate.AppendLayers on
//     empty.Image, mutate.ConfigFile, remote.Write.
//   - stevedore: layer.FromFiles with WithCache, image.Build(nil, ...),
//     registry.Push (as examples/goapp for one platform).
func BenchmarkAppImage(b *testing.B) {
	bin := appBinaryData(b)
	fi, err := os.Stat(bin)
	require.NoError(b, err)
	imageCase{
		key:   "app",
		bytes: fi.Size(),
		ggcr: func(ctx context.Context, srv *registrytest.Server, spool string) error {
			return plainApp(ctx, spool, bin, srv.Ref(appRepo))
		},
		ours: func(ctx context.Context, srv *registrytest.Server, cache, _ string) error {
			return oursApp(ctx, cache, bin, srv.Ref(appRepo))
		},
	}.run(b)
}

// checkWarm fails a warm stevedore run that uploaded a blob or downloaded
// anything but the base's config (which Build reads).
func checkWarm(b *testing.B, st registrytest.Stats) {
	b.Helper()
	base, err := baseImage()
	require.NoError(b, err)
	cfg, err := base.ConfigName()
	require.NoError(b, err)
	require.Zero(b, st.BlobUploads, "blobs the warm stevedore run uploaded")
	for h := range st.Downloads {
		require.Equal(b, cfg, h, "blob the warm stevedore run downloaded: want only the base config")
	}
}
