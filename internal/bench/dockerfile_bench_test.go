package bench

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/image/dockerfile"
	"github.com/stevedore-dev/stevedore/internal/itest"
	"github.com/stevedore-dev/stevedore/registry"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

// serviceDockerfile builds the payments service of the monorepo on the
// base of the in-process registry at host.
func serviceDockerfile(host string) string {
	return "FROM " + host + "/" + baseRepo + "\nWORKDIR /app\nCOPY " + paymentsDir + " .\nENV SERVICE=payments\nENTRYPOINT [\"/app/bin/payments\"]\n"
}

// oursDockerfile builds the Dockerfile df in the context root with
// image/dockerfile and pushes the image to target.
func oursDockerfile(ctx context.Context, root, df, cache, target string) error {
	img, err := dockerfile.Build(ctx,
		dockerfile.WithContextDir(root),
		dockerfile.WithDockerfile(df),
		dockerfile.WithPlatforms("linux/amd64"),
		dockerfile.WithCache(cache),
		dockerfile.WithResolver(func(ctx context.Context, ref string, p v1.Platform) (v1.Image, error) {
			return registry.Pull(ctx, ref, registry.WithPlatform(p.String()))
		}))
	if err != nil {
		return err
	}
	_, err = registry.Push(ctx, target, img)
	return err
}

// buildahDockerfile is the same with buildah bud (vfs storage under
// storage, --layers) and buildah push.
func buildahDockerfile(root, df, storage, target string) error {
	for _, args := range [][]string{
		{"bud", "--layers", "--tls-verify=false", "--format", "oci", "-f", df, "-t", target, root},
		{"push", "--tls-verify=false", target, "docker://" + target},
	} {
		all := append([]string{"--storage-driver", "vfs", "--root", filepath.Join(storage, "root"), "--runroot", filepath.Join(storage, "runroot")}, args...)
		if out, err := exec.Command("buildah", all...).CombinedOutput(); err != nil {
			return fmt.Errorf("buildah %v: %w\n%s", args, err, out)
		}
	}
	return nil
}

// BenchmarkDockerfileService (issue 14) builds one service of the big
// monorepo (services/payments: 600 files, 15.5 MB of a 305 MB tree) from
// its Dockerfile (FROM the base, WORKDIR, COPY the service, ENV,
// ENTRYPOINT) and pushes it to an in-process registry:
//
//   - buildah: buildah bud --layers (vfs storage) and buildah push;
//   - stevedore: image/dockerfile's Build with the layer cache, and
//     registry.Push.
//
// Cold: a fresh registry holding only the base, a fresh layer cache (or
// buildah storage) before every run. Warm: the same again, after one
// untimed run.
func BenchmarkDockerfileService(b *testing.B) {
	itest.Require(b, "buildah")
	if os.Geteuid() != 0 {
		b.Skip("buildah with vfs storage needs root")
	}
	ctx := context.Background()
	root := monorepoData(b, true)
	dfDir := scratchDir(b, "dockerfile-")
	size := dirSize(b, filepath.Join(root, paymentsDir))
	for _, phase := range []string{"cold", "warm"} {
		for _, who := range []string{"buildah", "stevedore"} {
			b.Run(phase+"/"+who, func(b *testing.B) {
				b.SetBytes(size)
				var srv *registrytest.Server
				defer func() {
					if srv != nil {
						srv.Close()
					}
				}()
				work := scratchDir(b, "work-")
				state, df, n := "", "", 0
				fresh := func() {
					if srv != nil {
						srv.Close()
					}
					srv = freshRegistry(b, true)
					df = filepath.Join(dfDir, "Dockerfile")
					require.NoError(b, os.WriteFile(df, []byte(serviceDockerfile(srv.Host)), 0o644))
					n++
					state = filepath.Join(work, fmt.Sprint(n))
				}
				do := func() {
					target := srv.Ref("team/payments:v1")
					if who == "buildah" {
						require.NoError(b, buildahDockerfile(root, df, state, target))
						return
					}
					require.NoError(b, oursDockerfile(ctx, root, df, state, target))
				}
				setup := func() {
					if phase == "cold" {
						os.RemoveAll(state)
						fresh()
					}
				}
				if phase == "warm" {
					fresh()
					do()
				}
				d := way(b, setup, do)
				key := "dockerfile-" + phase + "/" + who
				record(key, d)
				if who == "stevedore" {
					reportRatio(b, d, "dockerfile-"+phase+"/buildah", "x-buildah")
				}
				os.RemoveAll(state)
			})
		}
	}
}

// linkTree makes dst a copy of src made of hard links (cheap: no data
// copied), for a build context that adds files to generated data.
func linkTree(b testing.TB, src, dst string) {
	b.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		t := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(t, 0o755)
		}
		return os.Link(p, t)
	})
	require.NoError(b, err)
}
