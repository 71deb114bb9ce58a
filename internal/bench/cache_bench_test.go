package bench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/layer"
	"github.com/stevedore-dev/stevedore/registry"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

const (
	cacheRepo   = "team/cache"
	serviceRepo = "team/payments:latest"
)

// sharedCase is a job done on a second machine that shares a layer cache
// in the registry with a first one (examples' -cache-repo).
type sharedCase struct {
	key      string // the plain way's cold time is recorded under key+"-cold/ggcr"
	withBase bool
	target   string // machine A's; machine B pushes to target's repository + "-b"
	// inputs returns the job's inputs: the originals, or with dir a fresh
	// copy in dir (new inodes and mtimes).
	inputs func(b *testing.B, dir string) []string
	// ours does the job, rc the shared cache.
	ours func(ctx context.Context, srv *registrytest.Server, cache string, rc layer.RemoteCache, in []string, target string) error
}

// run adds the machineB/stevedore sub-benchmark: before every run
// (untimed), a fresh registry (with the base) and machine A doing the job
// with its own cache and the shared one; then, timed, machine B doing it
// with an empty cache and a fresh copy of the inputs, pushing to another
// repository. A run fails the benchmark if machine B uploads any blob but
// the config, or downloads any blob but the base's config.
func (c sharedCase) run(b *testing.B) {
	ctx := context.Background()
	b.Run("machineB/stevedore", func(b *testing.B) {
		scratch := scratchDir(b, "machines-")
		var srv *registrytest.Server
		defer func() {
			if srv != nil {
				srv.Close()
			}
		}()
		var do func() error
		n := 0
		setup := func() {
			if srv != nil {
				srv.Close()
			}
			srv = freshRegistry(b, c.withBase)
			rc, err := registry.NewLayerCache(srv.Ref(cacheRepo))
			require.NoError(b, err)
			n++
			run := filepath.Join(scratch, strings.Repeat("r", n))
			require.NoError(b, c.ours(ctx, srv, filepath.Join(run, "cache-a"), rc, c.inputs(b, ""), srv.Ref(c.target)))
			in := c.inputs(b, filepath.Join(run, "in-b"))
			// The copy is on disk before machine B starts, as a checkout
			// is before the build step that follows it.
			syscall.Sync()
			cacheB := filepath.Join(run, "cache-b")
			repo, tag, _ := strings.Cut(c.target, ":")
			srv.ResetStats()
			do = func() error { return c.ours(ctx, srv, cacheB, rc, in, srv.Ref(repo+"-b:"+tag)) }
		}
		d := way(b, setup, func() { require.NoError(b, do()) })
		checkMachineB(b, srv.Stats(), c.withBase)
		reportRatio(b, d, c.key+"-cold/ggcr", "x-ggcr")
		reportRatio(b, d, c.key+"-cold/stevedore", "x-cold")
	})
}

// checkMachineB fails a machine-B run that uploaded a blob but the
// image's config or downloaded one but the base's config.
func checkMachineB(b *testing.B, st registrytest.Stats, withBase bool) {
	b.Helper()
	require.Equal(b, 1, st.BlobUploads, "blobs machine B uploaded: want the config")
	want := 0
	if withBase {
		want = 1
	}
	require.Len(b, st.Downloads, want, "blobs machine B downloaded: want the base's config")
}

// copyFiles copies the files at paths into dir, and returns the copies.
func copyFiles(b *testing.B, dir string, paths ...string) []string {
	require.NoError(b, os.MkdirAll(dir, 0o755))
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = filepath.Join(dir, filepath.Base(p))
		cmd := exec.Command("cp", p, out[i])
		msg, err := cmd.CombinedOutput()
		require.NoError(b, err, "cp %s: %s", p, msg)
	}
	return out
}

// toolchainMachineB (suite item f) is the toolchain job of item d on
// machine B: the Go and ko tarballs copied afresh, an empty local cache.
func toolchainMachineB(b *testing.B, goGz, koGz string) {
	sharedCase{
		key: "toolchain", withBase: true, target: toolchainRepo,
		inputs: func(b *testing.B, dir string) []string {
			if dir == "" {
				return []string{goGz, koGz}
			}
			return copyFiles(b, dir, goGz, koGz)
		},
		ours: func(ctx context.Context, srv *registrytest.Server, cache string, rc layer.RemoteCache, in []string, target string) error {
			return oursToolchain(ctx, cache, cache, rc, srv.Ref(baseRepo), target, in[0], in[1])
		},
	}.run(b)
}

// oursService is stevedore's way to build and push the image of one
// service of a monorepo, as examples/monorepo does it.
func oursService(ctx context.Context, cache string, rc layer.RemoteCache, root, target string) error {
	opts := []layer.Option{layer.WithInclude(paymentsDir), layer.WithCache(cache)}
	if rc != nil {
		opts = append(opts, layer.WithRemoteCache(rc))
	}
	l, err := layer.FromDir(root, opts...)
	if err != nil {
		return err
	}
	img, err := image.Build(ctx, nil,
		image.WithPlatform("linux/amd64"),
		image.WithLayers(l),
		image.WithEntrypoint("/"+paymentsDir+"/bin/payments"),
		image.WithUser("65532"))
	if err != nil {
		return err
	}
	_, err = registry.Push(ctx, target, img)
	return err
}

// BenchmarkServiceImage (suite items g and h) builds the image of one
// service of the small monorepo (services/payments, 600 files, ~15 MB)
// on scratch and pushes it: cold and warm as the other image jobs, and
// on machine B, from a fresh clone (a copy of the tree: new inodes and
// mtimes) with an empty local cache.
//
//   - ggcr: plainDirLayer (walk, patternmatcher, archive/tar,
//     tarball.LayerFromReader), mutate.AppendLayers on empty.Image,
//     mutate.ConfigFile, remote.Write.
//   - stevedore: layer.FromDir(WithInclude("services/payments")) with
//     WithCache (and WithRemoteCache on machine B), image.Build,
//     registry.Push (as examples/monorepo).
func BenchmarkServiceImage(b *testing.B) {
	root := monorepoData(b, false)
	imageCase{
		key:   "service",
		bytes: dirSize(b, filepath.Join(root, paymentsDir)),
		ggcr: func(ctx context.Context, srv *registrytest.Server, spool string) error {
			return plainService(ctx, spool, root, srv.Ref(serviceRepo))
		},
		ours: func(ctx context.Context, srv *registrytest.Server, cache, _ string) error {
			return oursService(ctx, cache, nil, root, srv.Ref(serviceRepo))
		},
	}.run(b)
	sharedCase{
		key: "service", target: serviceRepo,
		inputs: func(b *testing.B, dir string) []string {
			if dir == "" {
				return []string{root}
			}
			cmd := exec.Command("cp", "-R", root, dir)
			msg, err := cmd.CombinedOutput()
			require.NoError(b, err, "cp -R %s: %s", root, msg)
			return []string{dir}
		},
		ours: func(ctx context.Context, srv *registrytest.Server, cache string, rc layer.RemoteCache, in []string, target string) error {
			return oursService(ctx, cache, rc, in[0], target)
		},
	}.run(b)
}

// BenchmarkRemoteCacheLookup (suite item i) measures one lookup in a
// layer cache kept in the in-process registry (registry.LayerCache), as a
// layer missing from the local cache makes it: a miss (the key is not
// there) and a hit (the entry is read; its blob is not), anonymous and
// with token authentication (each lookup then also asks for a token).
func BenchmarkRemoteCacheLookup(b *testing.B) {
	ctx := context.Background()
	for _, auth := range []string{"anonymous", "token"} {
		var sopts []registrytest.Option
		var opts []registry.Option
		if auth == "token" {
			sopts = append(sopts, registrytest.WithTokenAuth("bench", "bench-password"))
			opts = append(opts, registry.WithBasicAuth("bench", "bench-password"))
		}
		srv, err := registrytest.Start(sopts...)
		require.NoError(b, err)
		rc, err := registry.NewLayerCache(srv.Ref(cacheRepo), opts...)
		require.NoError(b, err)
		l, err := random.Layer(1<<20, types.OCILayer)
		require.NoError(b, err)
		stored := strings.Repeat("5e", 32)
		_, err = rc.Put(ctx, stored, l)
		require.NoError(b, err)
		for _, c := range []struct {
			name, key string
			found     bool
		}{{"miss", strings.Repeat("0f", 32), false}, {"hit", stored, true}} {
			b.Run(auth+"/"+c.name, func(b *testing.B) {
				for b.Loop() {
					_, found, err := rc.Lookup(ctx, c.key)
					require.NoError(b, err)
					require.Equal(b, c.found, found, "Lookup(%s) found", c.name)
				}
			})
		}
		srv.Close()
	}
}
