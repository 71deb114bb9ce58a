package dockerfile

import (
	"context"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBuildIndex: one image per platform, each FROM resolved for it,
// TARGETARCH set, BUILDPLATFORM stages resolved for the build platform.
func TestBuildIndex(t *testing.T) {
	dir := newContext(t, map[string]string{"app-amd64": "x86 binary", "app-arm64": "arm binary"})
	images := map[string]v1.Image{}
	for _, p := range []string{"linux/amd64", "linux/arm64", "linux/s390x"} {
		images["alpine|"+p] = baseImage(t, p, v1.Config{Env: []string{"PATH=/bin", "ARCH=" + p}}, baseFile{Path: "/etc/arch", Data: []byte(p)})
	}
	var resolved []string
	resolver := func(ctx context.Context, ref string, p v1.Platform) (v1.Image, error) {
		resolved = append(resolved, ref+" "+platformString(p))
		return resolverOf(images)(ctx, ref, p)
	}
	idx, err := BuildIndex(context.Background(), WithContextDir(dir), WithResolver(resolver),
		WithPlatforms("linux/amd64", "linux/arm64"), WithBuildPlatform("linux/s390x"),
		WithDockerfileContent([]byte(`FROM --platform=$BUILDPLATFORM alpine AS tools
ARG TARGETARCH
ENV TOOLS_FOR=$TARGETARCH
FROM alpine
ARG TARGETARCH
COPY app-$TARGETARCH /app
COPY --from=tools /etc /etc
ENV BUILT_FOR=$TARGETARCH
`)))
	require.NoError(t, err)
	require.NoError(t, validate.Index(idx), "validate.Index")
	mt, err := idx.MediaType()
	require.NoError(t, err)
	assert.Equal(t, types.OCIImageIndex, mt, "index media type")
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	require.Len(t, im.Manifests, 2, "one image per platform")
	for i, want := range []struct{ platform, arch, content string }{
		{"linux/amd64", "amd64", "x86 binary"}, {"linux/arm64", "arm64", "arm binary"},
	} {
		d := im.Manifests[i]
		assert.Equal(t, want.platform, d.Platform.String(), "platform of index entry %d", i)
		img, err := idx.Image(d.Digest)
		require.NoError(t, err)
		cf := configOf(t, img)
		assert.Equal(t, want.arch, cf.Architecture, "config architecture")
		assert.Contains(t, cf.Config.Env, "ARCH="+want.platform, "FROM resolved for the platform")
		assert.Contains(t, cf.Config.Env, "BUILT_FOR="+want.arch, "TARGETARCH")
		assert.Equal(t, want.content, files(t, img)["app"].Body, "COPY app-$TARGETARCH")
		assert.Equal(t, "linux/s390x", files(t, img)["etc/arch"].Body, "COPY --from the build platform's stage")
	}
	assert.ElementsMatch(t, []string{"alpine linux/s390x", "alpine linux/amd64", "alpine linux/s390x", "alpine linux/arm64"}, resolved,
		"the tools stage resolved for the build platform, the final one for each target")
}

// TestTargetAndStages: WithTarget, stages built on stages (ENV, ARG,
// WORKDIR and USER carried over), ONBUILD triggers of a base stage and of
// a base image.
func TestTargetAndStages(t *testing.T) {
	dir := newContext(t, map[string]string{"a": "a", "b": "b"})
	withTriggers := baseImage(t, "linux/amd64", v1.Config{OnBuild: []string{"COPY a /from-trigger", "ENV TRIGGERED=1"}, Env: []string{"PATH=/x"}})
	df := `FROM scratch AS base
ARG V=1
ENV E=$V
WORKDIR /w
ONBUILD COPY b /onbuild-b
FROM base AS mid
ENV F=$V
COPY a .
FROM triggers AS fromimage
LABEL x=y
FROM mid
`
	res := WithResolver(resolverOf(map[string]v1.Image{"triggers": withTriggers}))
	img := mustBuild(t, dir, df, res)
	cf := configOf(t, img)
	assert.Equal(t, []string{dockerPath, "E=1", "F=1"}, cf.Config.Env, "ENV and ARG carried to derived stages")
	assert.Equal(t, "/w", cf.Config.WorkingDir, "WORKDIR carried over")
	assert.Equal(t, "w/a: 0 644 0:0 \"a\"\n", listing(files(t, img), "w/a"), "COPY relative to the inherited WORKDIR")
	assert.Equal(t, "onbuild-b: 0 644 0:0 \"b\"\n", listing(files(t, img), "onbuild-b"), "ONBUILD of the base stage ran in mid")
	assert.Nil(t, cf.Config.OnBuild, "triggers do not carry over")

	img = mustBuild(t, dir, df, res, WithTarget("fromimage"))
	cf = configOf(t, img)
	assert.Contains(t, cf.Config.Env, "TRIGGERED=1", "ONBUILD ENV of the base image")
	assert.Equal(t, "from-trigger: 0 644 0:0 \"a\"\n", listing(files(t, img), "from-trigger"), "ONBUILD COPY of the base image")
	assert.Nil(t, cf.Config.OnBuild, "the base image's triggers are consumed")
	assert.Equal(t, map[string]string{"x": "y"}, cf.Config.Labels, "target stage")
}

// TestBaseAnnotations: an image from a Resolver that says its reference
// gives the result the base annotations; the history keeps the base's.
func TestBaseAnnotations(t *testing.T) {
	base := debianish(t, "linux/amd64")
	ref, err := name.ParseReference("registry.example.com/library/debian:12")
	require.NoError(t, err)
	img := mustBuild(t, t.TempDir(), "FROM registry.example.com/library/debian:12\nENV A=1\nWORKDIR /x\n",
		WithResolver(func(context.Context, string, v1.Platform) (v1.Image, error) { return referenced{base, ref}, nil }))
	m, err := img.Manifest()
	require.NoError(t, err)
	bd, err := base.Digest()
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"org.opencontainers.image.base.name":   "registry.example.com/library/debian:12",
		"org.opencontainers.image.base.digest": bd.String(),
	}, m.Annotations, "base annotations")
	cf := configOf(t, img)
	assert.Equal(t, "stevedore: files 8 -> /", cf.History[0].CreatedBy, "the base's history first")
	assert.Equal(t, []string{"ENV A=1 (empty)", "WORKDIR /x"}, history(cf, 1), "then the Dockerfile's")
}

type referenced struct {
	v1.Image
	ref name.Reference
}

func (r referenced) Reference() name.Reference { return r.ref }

// TestCopyFromImagePlatform: COPY --from an image reference takes the
// image of the target platform, even in a stage whose FROM has another
// --platform, as BuildKit resolves the implicit stage of a --from image
// (dockerfile2llb gives it no platform of its own, so the target's).
func TestCopyFromImagePlatform(t *testing.T) {
	images := map[string]v1.Image{}
	for _, p := range []string{"linux/amd64", "linux/arm64", "linux/s390x"} {
		images["tools|"+p] = baseImage(t, p, v1.Config{}, baseFile{Path: "/etc/arch", Data: []byte(p)})
	}
	var resolved []string
	resolver := func(ctx context.Context, ref string, p v1.Platform) (v1.Image, error) {
		resolved = append(resolved, ref+" "+platformString(p))
		return resolverOf(images)(ctx, ref, p)
	}
	df := "FROM --platform=$BUILDPLATFORM scratch AS build\nCOPY --from=tools /etc/arch /arch\nFROM scratch\nCOPY --from=build /arch /arch\n"
	for _, target := range []string{"linux/amd64", "linux/arm64"} {
		resolved = nil
		img := mustBuild(t, t.TempDir(), df, WithResolver(resolver), WithPlatforms(target), WithBuildPlatform("linux/s390x"))
		assert.Equal(t, target, files(t, img)["arch"].Body, "Build(%s) /arch: COPY --from=tools of the target platform", target)
		assert.Equal(t, []string{"tools " + target}, resolved, "Build(%s) resolved", target)
	}
}

// TestPlatformNormalized: target and build platforms are normalized as
// docker build normalizes --platform (BuildKit's dockerui parses it with
// containerd's platforms.Parse, then platforms.Normalize): linux/arm is
// arm/v7, arm64/v8 is arm64, aarch64 and x86_64 are arm64 and amd64.
func TestPlatformNormalized(t *testing.T) {
	df := "FROM scratch\nARG TARGETPLATFORM\nARG TARGETVARIANT\nARG BUILDPLATFORM\n"
	for _, tc := range []struct {
		target, build           string
		wantTarget, wantVariant string
		wantBuild               string
	}{
		{"linux/arm", "linux/armhf", "linux/arm/v7", "v7", "linux/arm/v7"},
		{"linux/arm/7", "linux/armel", "linux/arm/v7", "v7", "linux/arm/v6"},
		{"linux/arm64/v8", "linux/aarch64", "linux/arm64", "", "linux/arm64"},
		{"Linux/x86_64", "linux/amd64/v1", "linux/amd64", "", "linux/amd64"},
		{"linux/arm/v6", "linux/amd64", "linux/arm/v6", "v6", "linux/amd64"},
	} {
		img := mustBuild(t, t.TempDir(), df, WithPlatforms(tc.target), WithBuildPlatform(tc.build))
		cf := configOf(t, img)
		assert.Equal(t, []string{"ARG TARGETPLATFORM=" + tc.wantTarget + " (empty)", "ARG TARGETVARIANT=" + tc.wantVariant + " (empty)",
			"ARG BUILDPLATFORM=" + tc.wantBuild + " (empty)"}, history(cf, 0), "Build(%s, build %s) arguments", tc.target, tc.build)
		require.NotNil(t, cf.Platform())
		assert.Equal(t, tc.wantTarget, platformString(*cf.Platform()), "Build(%s) image platform", tc.target)
	}
}

// TestFromPlatformNormalized: FROM --platform names the platform as
// containerd's platforms package does (BuildKit parses it with
// platforms.Parse): aarch64 is arm64, x86_64 amd64.
func TestFromPlatformNormalized(t *testing.T) {
	images := map[string]v1.Image{}
	for _, p := range []string{"linux/amd64", "linux/arm64"} {
		images["base|"+p] = baseImage(t, p, v1.Config{}, baseFile{Path: "/etc/arch", Data: []byte(p)})
	}
	for _, tc := range []struct{ from, want string }{
		{"linux/aarch64", "linux/arm64"},
		{"Linux/x86_64", "linux/amd64"},
	} {
		df := "FROM --platform=" + tc.from + " base\n"
		img := mustBuild(t, t.TempDir(), df, WithResolver(resolverOf(images)), WithPlatforms("linux/amd64"))
		assert.Equal(t, tc.want, files(t, img)["etc/arch"].Body, "FROM --platform=%s: the base of that platform", tc.from)
	}
}

// TestTargetPlatformOfImage: given a target platform (WithPlatforms), the
// image is of that platform even when the last stage's FROM --platform
// names another, as BuildKit sets the target's OS, architecture and
// variant on the result when the platform is explicit; scratch stages
// are of the target platform whatever their --platform (emptyImage of
// the target). Without WithPlatforms the base's platform is kept.
func TestTargetPlatformOfImage(t *testing.T) {
	images := map[string]v1.Image{}
	for _, p := range []string{"linux/arm64", "linux/arm/v6", "linux/amd64/v3"} {
		images["base|"+p] = baseImage(t, p, v1.Config{}, baseFile{Path: "/etc/arch", Data: []byte(p)})
	}
	res := WithResolver(resolverOf(images))
	for _, tc := range []struct {
		dockerfile string
		opts       []Option
		want       v1.Platform
	}{
		{"FROM --platform=linux/arm64 base\nLABEL a=b\n", []Option{WithPlatforms("linux/amd64")}, v1.Platform{OS: "linux", Architecture: "amd64"}},
		{"FROM --platform=linux/arm64 base\n", []Option{WithPlatforms("linux/arm/v7")}, v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}},
		{"FROM --platform=linux/arm/v6 base AS b\nFROM b\nENV A=1\n", []Option{WithPlatforms("linux/amd64")}, v1.Platform{OS: "linux", Architecture: "amd64"}},
		// Same OS and architecture, no target variant: the base's is kept.
		{"FROM --platform=linux/amd64/v3 base\n", []Option{WithPlatforms("linux/amd64")}, v1.Platform{OS: "linux", Architecture: "amd64", Variant: "v3"}},
		{"FROM --platform=linux/arm64 scratch\nLABEL a=b\n", []Option{WithPlatforms("linux/amd64")}, v1.Platform{OS: "linux", Architecture: "amd64"}},
		// No target given: the base's platform; scratch is the build platform's.
		{"FROM --platform=linux/arm64 base\nLABEL a=b\n", nil, v1.Platform{OS: "linux", Architecture: "arm64"}},
		{"FROM --platform=linux/arm64 scratch\nLABEL a=b\n", []Option{WithBuildPlatform("linux/s390x")}, v1.Platform{OS: "linux", Architecture: "s390x"}},
	} {
		opts := append([]Option{WithContextDir(t.TempDir()), WithDockerfileContent([]byte(tc.dockerfile)), res}, tc.opts...)
		img, err := Build(context.Background(), opts...)
		require.NoError(t, err, "Build(%q)", tc.dockerfile)
		require.NoError(t, validate.Image(img), "validate.Image")
		cf := configOf(t, img)
		assert.Equal(t, tc.want, v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}, "Build(%q) platform", tc.dockerfile)
	}

	// BuildIndex: each image, and its index entry, is of its target.
	idx, err := BuildIndex(context.Background(), WithContextDir(t.TempDir()), res, WithPlatforms("linux/amd64", "linux/arm/v7"),
		WithDockerfileContent([]byte("FROM --platform=linux/arm64 base\n")))
	require.NoError(t, err)
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	require.Len(t, im.Manifests, 2)
	for i, want := range []string{"linux/amd64", "linux/arm/v7"} {
		assert.Equal(t, want, im.Manifests[i].Platform.String(), "BuildIndex entry %d platform", i)
		img, err := idx.Image(im.Manifests[i].Digest)
		require.NoError(t, err)
		assert.Equal(t, want, configOf(t, img).Platform().String(), "BuildIndex image %d platform", i)
		assert.Equal(t, "linux/arm64", files(t, img)["etc/arch"].Body, "BuildIndex image %d: the base of FROM --platform", i)
	}
}
