package exampletest

import (
	"context"
	"maps"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/examples/internal/cli"
	"github.com/stevedore-dev/stevedore/registry"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

// TwoMachines runs an example as two machines that share a layer cache
// repository, srv's team/cache (-cache-repo): each with a fresh -cache
// directory, -target and -v after the args that machine returns for it
// ("a", then "b"; machine may be nil). Machine A pushes to REPO:a, machine
// B to REPO-b:b, another repository, whose push cannot find the layers
// already there. It checks that B printed A's digest and what B did at the
// registry (see checkSharedCache), and returns both results for the
// caller's checks of their logs.
func TwoMachines(t testing.TB, srv *registrytest.Server, run cli.RunFunc, repo string, machine func(name string) []string) (a, b Result) {
	t.Helper()
	args := func(name, target string) []string {
		var own []string
		if machine != nil {
			own = machine(name)
		}
		return append(own, "-cache", t.TempDir(), "-cache-repo", srv.Ref("team/cache"), "-target", target, "-v")
	}
	a = Run(t, run, args("a", srv.Ref(repo+":a"))...)
	srv.ResetStats()
	b = Run(t, run, args("b", srv.Ref(repo+"-b:b"))...)
	st := srv.Stats()
	assert.Equal(t, a.Digest, b.Digest, "machine B's digest")
	checkSharedCache(t, st, b.Ref)
	return a, b
}

// checkSharedCache checks what a second machine did when it found every
// layer in the shared layer cache (-cache-repo) and pushed to ref (as
// printed: REF@sha256:...), from the registry's counters since it
// started: no layer blob of the image or index at ref downloaded; only
// its configs uploaded (one per image), and the blobs of the artifacts
// attached to its images (-sbom); every layer mounted.
func checkSharedCache(t testing.TB, st registrytest.Stats, ref string) {
	t.Helper()
	ctx := context.Background()
	var imgs []v1.Image
	if idx, err := registry.PullIndex(ctx, ref); err == nil {
		ms, err := partial.FindImages(idx, func(v1.Descriptor) bool { return true })
		require.NoError(t, err)
		imgs = ms
	} else {
		img, err := registry.Pull(ctx, ref)
		require.NoError(t, err)
		imgs = []v1.Image{img}
	}
	layers := 0
	uploads := map[v1.Hash]int64{} // the blobs machine B had to send
	name := ref[:strings.LastIndex(ref, "@")]
	for _, img := range imgs {
		ls, err := img.Layers()
		require.NoError(t, err)
		for _, l := range ls {
			d, err := l.Digest()
			require.NoError(t, err)
			assert.Zero(t, st.Downloads[d], "downloads of layer %s", d)
		}
		layers += len(ls)
		m, err := img.Manifest()
		require.NoError(t, err)
		uploads[m.Config.Digest] = m.Config.Size
		d, err := img.Digest()
		require.NoError(t, err)
		maps.Copy(uploads, AttachedBlobs(t, name+"@"+d.String()))
	}
	var uploadBytes int64
	for _, n := range uploads {
		uploadBytes += n
	}
	assert.Equal(t, len(uploads), st.BlobUploads, "blobs uploaded (the configs and the attached artifacts' only)")
	assert.Equal(t, uploadBytes, st.BlobUploadBytes, "bytes uploaded (the configs' and the attached artifacts')")
	assert.Equal(t, layers, st.Mounts, "layers mounted")
}

// AttachedBlobs returns the blobs (digest and size) of the artifacts that
// refer to ref (NAME@sha256:...): an image's SBOM and provenance.
func AttachedBlobs(t testing.TB, ref string, opts ...registry.Option) map[v1.Hash]int64 {
	t.Helper()
	ctx := context.Background()
	name := ref[:strings.LastIndex(ref, "@")]
	attached, err := registry.Referrers(ctx, ref, "", opts...)
	require.NoError(t, err)
	blobs := map[v1.Hash]int64{}
	for _, a := range attached {
		art, err := registry.Pull(ctx, name+"@"+a.Digest.String(), opts...)
		require.NoError(t, err)
		m, err := art.Manifest()
		require.NoError(t, err)
		blobs[m.Config.Digest] = m.Config.Size
		for _, l := range m.Layers {
			blobs[l.Digest] = l.Size
		}
	}
	return blobs
}
