package cli

import (
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/attest"
	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/layer"
	"github.com/stevedore-dev/stevedore/registry"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

func TestCommonRegister(t *testing.T) {
	tests := []struct {
		flags Flags
		names []string
		help  map[string]string // flag -> its usage
	}{
		{Flags{}, []string{"cache", "v"}, map[string]string{
			"cache": "layer cache `DIR` (empty: no cache)",
			"v":     "print progress on stderr",
		}},
		{Flags{Base: "scratch", Push: "target", CacheRepo: true, SBOM: true},
			[]string{"base", "cache", "cache-repo", "o", "sbom", "target", "v"}, map[string]string{
				"base":   "base image `REF` (default: scratch)",
				"target": "push the image to `REF`; without it the image is written with -o",
				"o":      "write the image to `FILE` as an OCI tarball (default prog.oci.tar when there is no -target)",
			}},
		{Flags{Push: "t", Out: "image.oci.tar", VerboseHelp: "print details on stderr"},
			[]string{"cache", "o", "t", "v"}, map[string]string{
				"o": "write the image to `FILE` as an OCI tarball (default image.oci.tar when there is no -t)",
				"v": "print details on stderr",
			}},
		{Flags{CacheHelp: "layer cache `DIR` shared (empty: no cache)"}, []string{"cache", "v"}, map[string]string{
			"cache": "layer cache `DIR` shared (empty: no cache)",
		}},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("prog", flag.ContinueOnError)
		var c Common
		c.Register(fs, tt.flags)
		var names []string
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		assert.Equal(t, tt.names, names, "Register(%+v): flags", tt.flags)
		for name, want := range tt.help {
			assert.Equal(t, want, fs.Lookup(name).Usage, "Register(%+v): usage of -%s", tt.flags, name)
		}
		assert.Equal(t, DefaultCacheDir(), c.CacheDir, "Register(%+v): default of -cache", tt.flags)
		if tt.flags.SBOM {
			assert.True(t, c.SBOM, "Register(%+v): default of -sbom", tt.flags)
		}
	}
}

func TestCommonParse(t *testing.T) {
	all := Flags{Base: "scratch", Push: "target", CacheRepo: true}
	tests := []struct {
		flags       Flags
		args        []string
		target, out string
		err         string
	}{
		{all, nil, "", "prog.oci.tar", ""},
		{all, []string{"-o", "x.tar"}, "", "x.tar", ""},
		{all, []string{"-target", "example.com/a:b"}, "example.com/a:b", "", ""},
		{all, []string{"-target", "example.com/a:b", "-o", "x.tar"}, "", "", "-target and -o: give one"},
		{Flags{Push: "t", Out: "image.oci.tar"}, nil, "", "image.oci.tar", ""},
		{Flags{Push: "t"}, []string{"-t", "example.com/a:b", "-o", "x.tar"}, "", "", "-t and -o: give one"},
		{Flags{}, nil, "", "", ""},
		{all, []string{"-cache-repo", "Not A Repo"}, "", "", "-cache-repo: "},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("prog", flag.ContinueOnError)
		var c Common
		c.Register(fs, tt.flags)
		err := c.Parse(fs, tt.args, io.Discard)
		if tt.err != "" {
			assert.ErrorContains(t, err, tt.err, "Parse(%q)", tt.args)
			continue
		}
		if assert.NoError(t, err, "Parse(%q)", tt.args) {
			assert.Equal(t, tt.target, c.Target, "Parse(%q): Target", tt.args)
			assert.Equal(t, tt.out, c.Out, "Parse(%q): Out", tt.args)
			assert.NotNil(t, c.Caches, "Parse(%q): Caches", tt.args)
		}
	}
}

// TestCommonCaches: the options of -cache store a layer in DIR and report
// it with -v; without -cache nothing is cached.
func TestCommonCaches(t *testing.T) {
	for _, withCache := range []bool{true, false} {
		dir := t.TempDir()
		args := []string{"-v", "-cache", ""}
		if withCache {
			args[2] = dir
		}
		fs := flag.NewFlagSet("prog", flag.ContinueOnError)
		var c Common
		c.Register(fs, Flags{})
		var log strings.Builder
		require.NoError(t, c.Parse(fs, args, &log))

		l, err := layer.FromFiles([]layer.File{{Path: "/a", Data: []byte("a")}}, c.LayerOptions()...)
		require.NoError(t, err)
		_, err = l.Digest()
		require.NoError(t, err)
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		if withCache {
			assert.NotEmpty(t, entries, "-cache %s: what LayerOptions stored", dir)
			assert.Contains(t, log.String(), "cache miss", "-cache %s -v: the log", dir)
			assert.Len(t, c.ImageOptions(), 1, "-cache %s: ImageOptions (image.WithCache)", dir)
		} else {
			assert.Empty(t, entries, "-cache '': what LayerOptions stored")
			assert.Empty(t, c.ImageOptions(), "-cache '': ImageOptions")
		}
	}
}

// TestCommonPublish writes an image with and without -sbom: the printed
// reference names the file and the digest of the image it holds, and with
// -sbom the SBOM and provenance go in as referrers.
func TestCommonPublish(t *testing.T) {
	ctx := context.Background()
	img, err := image.Build(ctx, nil, image.WithCmd("/x"))
	require.NoError(t, err)
	oci, err := image.ToOCI(img)
	require.NoError(t, err)
	h, err := oci.Digest()
	require.NoError(t, err)
	for _, sbom := range []bool{true, false} {
		out := filepath.Join(t.TempDir(), "out.tar")
		fs := flag.NewFlagSet("prog", flag.ContinueOnError)
		var c Common
		c.Register(fs, Flags{Push: "target", SBOM: true})
		var log strings.Builder
		args := []string{"-o", out, "-v", "-cache", "", "-sbom=" + strconv.FormatBool(sbom)}
		require.NoError(t, c.Parse(fs, args, &log))

		ref, err := c.Publish(ctx, img)
		require.NoError(t, err, "Publish with %q", args)
		assert.Equal(t, out+"@"+h.String(), ref, "Publish with %q", args)
		l, err := image.ReadOCITarball(out)
		require.NoError(t, err)
		got, err := l.Image("latest")
		if assert.NoError(t, err, "Publish with %q: the image named latest", args) {
			d, err := got.Digest()
			require.NoError(t, err)
			assert.Equal(t, h, d, "Publish with %q: the image named latest", args)
		}
		refs, err := l.ImageIndex(attest.FallbackTag(h))
		if sbom {
			assert.Contains(t, log.String(), "attached 2 artifacts", "Publish with %q: the log", args)
			if assert.NoError(t, err, "Publish with %q: the image's referrers", args) {
				m, err := refs.IndexManifest()
				require.NoError(t, err)
				assert.Len(t, m.Manifests, 2, "Publish with %q: the image's referrers (SBOM and provenance)", args)
			}
		} else {
			assert.NotContains(t, log.String(), "attached", "Publish with %q: the log", args)
			assert.Error(t, err, "Publish with %q: the image's referrers", args)
		}
		require.NoError(t, l.Close())
	}
}

// TestCommonUploadWhileBuilding pushes with -target: UploadWhileBuilding's
// option hands the built layer to a Pusher, which uploads it before
// Publish is called; Publish then finishes with that Pusher (one ping),
// and every blob is sent once (with -sbom, the referrers' too). Without
// -target there is no option. (internal/e2e's TestPushWhileBuilding
// shows the upload starts during Build.)
func TestCommonUploadWhileBuilding(t *testing.T) {
	ctx := context.Background()
	srv := registrytest.New(t)
	l, err := layer.FromFiles([]layer.File{{Path: "/app/x", Data: []byte("x")}})
	require.NoError(t, err)
	for _, sbom := range []bool{false, true} {
		srv.ResetStats()
		fs := flag.NewFlagSet("prog", flag.ContinueOnError)
		var c Common
		c.Register(fs, Flags{Push: "target", SBOM: true})
		repo := "team/app-sbom-" + strconv.FormatBool(sbom)
		target := srv.Ref(repo + ":v1")
		args := []string{"-target", target, "-cache", "", "-sbom=" + strconv.FormatBool(sbom)}
		require.NoError(t, c.Parse(fs, args, io.Discard))

		uploads, err := c.UploadWhileBuilding(ctx)
		require.NoError(t, err)
		require.Len(t, uploads, 1, "the image.WithLayerBuilt option")
		img, err := image.Build(ctx, nil, append(uploads, image.WithLayers(l))...)
		require.NoError(t, err)
		// The layer goes up without Publish: it was handed over by Build.
		require.Eventually(t, func() bool { return srv.Stats().BlobUploads == 1 }, time.Minute, 5*time.Millisecond,
			"-sbom=%v: the layer uploaded before Publish", sbom)
		ref, err := c.Publish(ctx, img)
		require.NoError(t, err)
		c.CloseUploads() // after Publish: nothing left to close

		h, err := img.Digest()
		require.NoError(t, err)
		assert.Equal(t, srv.Ref(repo)+"@"+h.String(), ref)
		want := 2 // the layer and the config, each once
		if sbom {
			// and the distinct blobs of the SBOM and the provenance
			descs, err := registry.Referrers(ctx, ref, "")
			require.NoError(t, err)
			assert.Len(t, descs, 2, "the SBOM and the provenance")
			blobs := map[v1.Hash]bool{}
			for _, d := range descs {
				a, err := registry.Pull(ctx, srv.Ref(repo)+"@"+d.Digest.String())
				require.NoError(t, err)
				m, err := a.Manifest()
				require.NoError(t, err)
				blobs[m.Config.Digest] = true
				for _, l := range m.Layers {
					blobs[l.Digest] = true
				}
			}
			want += len(blobs)
		}
		st := srv.Stats()
		assert.Equal(t, want, st.BlobUploads, "-sbom=%v: blobs uploaded", sbom)
		if !sbom {
			// Publish pushed with the Pusher that took the layer: one ping.
			assert.Equal(t, 1, st.Requests["GET ping"], "pings")
		}
	}

	var c Common
	fs := flag.NewFlagSet("prog", flag.ContinueOnError)
	c.Register(fs, Flags{Push: "target"})
	require.NoError(t, c.Parse(fs, []string{"-o", filepath.Join(t.TempDir(), "x.tar"), "-cache", ""}, io.Discard))
	uploads, err := c.UploadWhileBuilding(ctx)
	require.NoError(t, err)
	assert.Empty(t, uploads, "no option without -target")
	c.CloseUploads()
}
