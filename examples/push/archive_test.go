package main

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/examples/internal/exampletest"
	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/layer"
	"github.com/stevedore-dev/stevedore/registry"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

// buildImage builds a one-layer image whose file holds content.
func buildImage(t *testing.T, content string, opts ...layer.Option) v1.Image {
	t.Helper()
	l, err := layer.FromFiles([]layer.File{{Path: "/hello.txt", Data: []byte(content)}}, opts...)
	require.NoError(t, err)
	img, err := image.Build(context.Background(), nil, image.WithLayers(l), image.WithCmd("/hello.txt"))
	require.NoError(t, err)
	return img
}

// sameContent checks that got has want's config and layers, blob for
// blob (a docker tarball keeps them; the manifest may differ in media
// types).
func sameContent(t *testing.T, want, got v1.Image) {
	t.Helper()
	require.NoError(t, validate.Image(got), "validate.Image of the pushed image")
	wantCfg, err := want.ConfigName()
	require.NoError(t, err)
	gotCfg, err := got.ConfigName()
	require.NoError(t, err)
	assert.Equal(t, wantCfg, gotCfg, "config digest")
	wm, err := want.Manifest()
	require.NoError(t, err)
	gm, err := got.Manifest()
	require.NoError(t, err)
	require.Len(t, gm.Layers, len(wm.Layers), "layers")
	for i := range wm.Layers {
		assert.Equal(t, wm.Layers[i].Digest, gm.Layers[i].Digest, "layer %d digest", i)
	}
}

// TestDockerTarball pushes what image.WriteDockerTarball writes, under a
// name that says nothing of its kind.
func TestDockerTarball(t *testing.T) {
	ctx := context.Background()
	srv := registrytest.New(t)
	img := buildImage(t, "from a docker tarball\n")
	file := filepath.Join(t.TempDir(), "x.docker.tar")
	require.NoError(t, image.WriteDockerTarball(ctx, file, "example.com/team/app:v1", img))

	for _, args := range [][]string{
		{"-image", file, "-target", srv.Ref("team/app:v1")},
		{"-image", file, "-name", "example.com/team/app:v1", "-target", srv.Ref("team/app:v2")},
	} {
		r := exampletest.Run(t, runWith(nil), args...)
		got, err := registry.Pull(ctx, r.Ref)
		require.NoError(t, err, "Pull(%s)", r.Ref)
		sameContent(t, img, got)
		assert.Contains(t, r.Stderr, "manifest pushed "+r.Digest, "run(%q) stderr", args)
	}

	_, err := exampletest.RunErr(t, runWith(nil), "-image", file, "-name", "example.com/team/app:v9", "-target", srv.Ref("team/app:v9"))
	require.ErrorIs(t, err, image.ErrNotFound, "push of an absent tag")
	assert.ErrorContains(t, err, `"example.com/team/app:v1"`, "push of an absent tag: the error lists the tags there are")
}

// TestDockerTarballOfSeveralImages needs -name to pick one.
func TestDockerTarballOfSeveralImages(t *testing.T) {
	ctx := context.Background()
	srv := registrytest.New(t)
	one, two := buildImage(t, "one\n"), buildImage(t, "two\n")
	file := filepath.Join(t.TempDir(), "all.tar")
	tagOne, err := name.NewTag("example.com/app:one")
	require.NoError(t, err)
	tagTwo, err := name.NewTag("example.com/app:two")
	require.NoError(t, err)
	require.NoError(t, tarball.MultiWriteToFile(file, map[name.Tag]v1.Image{tagOne: one, tagTwo: two}))

	_, err = exampletest.RunErr(t, runWith(nil), "-image", file, "-target", srv.Ref("app:x"))
	require.ErrorIs(t, err, image.ErrAmbiguous, "push of a two-image docker tarball without -name")
	assert.ErrorContains(t, err, "-name")

	r := exampletest.Run(t, runWith(nil), "-image", file, "-name", "example.com/app:two", "-target", srv.Ref("app:two"))
	got, err := registry.Pull(ctx, r.Ref)
	require.NoError(t, err)
	sameContent(t, two, got)
}

// TestDockerTarballWithZstdLayers refuses what a docker tarball cannot
// label: go-containerregistry would push the zstd layer as gzip.
func TestDockerTarballWithZstdLayers(t *testing.T) {
	srv := registrytest.New(t)
	img := buildImage(t, "zstd\n", layer.WithCompression(layer.Zstd))
	file := filepath.Join(t.TempDir(), "zstd.tar")
	require.NoError(t, image.WriteDockerTarball(context.Background(), file, "example.com/app:zstd", img))
	_, err := exampletest.RunErr(t, runWith(nil), "-image", file, "-target", srv.Ref("app:zstd"))
	assert.ErrorContains(t, err, "zstd-compressed")
	assert.Zero(t, srv.Stats().ManifestPUTs, "manifests pushed")
}

func TestArchiveKind(t *testing.T) {
	tarOf := func(names ...string) []byte {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		for _, n := range names {
			require.NoError(t, tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: 2, Typeflag: tar.TypeReg}))
			_, err := tw.Write([]byte("{}"))
			require.NoError(t, err)
		}
		require.NoError(t, tw.Close())
		return b.Bytes()
	}
	for _, tc := range []struct {
		why     string
		content []byte
		want    string // "" for an error
	}{
		{"docker save before Docker 25", tarOf("abc/layer.tar", "manifest.json", "repositories"), dockerTarball},
		{"docker save of Docker 25 and later: both files", tarOf("blobs/sha256/ab", "index.json", "manifest.json", "oci-layout"), ociTarball},
		{"OCI tarball", tarOf("oci-layout", "index.json"), ociTarball},
		{"names with ./", tarOf("./oci-layout", "./index.json"), ociTarball},
		{"a tar of something else", tarOf("hello.txt"), ""},
		{"not a tar", []byte("package main\n"), ""},
		{"empty file", nil, ""},
	} {
		file := filepath.Join(t.TempDir(), "x")
		require.NoError(t, os.WriteFile(file, tc.content, 0o644))
		got, err := archiveKind(file)
		if tc.want == "" {
			assert.Error(t, err, "archiveKind(%s)", tc.why)
			continue
		}
		if assert.NoError(t, err, "archiveKind(%s)", tc.why) {
			assert.Equal(t, tc.want, got, "archiveKind(%s)", tc.why)
		}
	}
}
