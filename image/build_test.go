package image

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stevedore-dev/stevedore/internal/mediatype"
	"github.com/stevedore-dev/stevedore/layer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TestOptions runs every option against a random base, an OCI base and a
// Docker base, validating each result.
func TestOptions(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "")
	when := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name  string
		opts  []Option
		check func(t *testing.T, base, got *v1.ConfigFile, m *v1.Manifest, baseLayers int)
	}{
		{"WithEnv new", []Option{WithEnv("FOO", "bar")}, func(t *testing.T, base, got *v1.ConfigFile, _ *v1.Manifest, _ int) {
			assert.Equal(t, append(slices.Clone(base.Config.Env), "FOO=bar"), got.Config.Env, "Env")
		}},
		{"WithEnv replaces in place", []Option{WithEnv("HOME", "/a"), WithEnv("HOME", "/home/app")}, func(t *testing.T, base, got *v1.ConfigFile, _ *v1.Manifest, _ int) {
			assert.Equal(t, setEnv(base.Config.Env, "HOME", "/home/app"), got.Config.Env, "Env")
			v, _ := lookupEnv(got.Config.Env, "HOME")
			assert.Equal(t, "/home/app", v, "HOME")
		}},
		{"WithoutEnv", []Option{WithEnv("X", "1"), WithoutEnv("HOME"), WithoutEnv("X")}, func(t *testing.T, base, got *v1.ConfigFile, _ *v1.Manifest, _ int) {
			assert.Equal(t, unsetEnv(base.Config.Env, "HOME"), got.Config.Env, "Env")
		}},
		{"WithPathPrepend", []Option{WithPathPrepend("/app/bin", "/usr/bin", "/app/bin")}, func(t *testing.T, base, got *v1.ConfigFile, _ *v1.Manifest, _ int) {
			old, ok := lookupEnv(base.Config.Env, "PATH")
			if !ok {
				old = DefaultPath
			}
			p, _ := lookupEnv(got.Config.Env, "PATH")
			assert.Equal(t, "/app/bin:"+old, p, "PATH (/usr/bin is on both paths already)")
		}},
		{"WithPathAppend", []Option{WithPathAppend("/opt/tools/bin"), WithPathAppend("/opt/tools/bin", "/bin")}, func(t *testing.T, base, got *v1.ConfigFile, _ *v1.Manifest, _ int) {
			old, ok := lookupEnv(base.Config.Env, "PATH")
			if !ok {
				old = DefaultPath
			}
			p, _ := lookupEnv(got.Config.Env, "PATH")
			assert.Equal(t, old+":/opt/tools/bin", p, "PATH")
		}},
		{"WithWorkDir new dir adds a layer", []Option{WithWorkDir("/app/work/")}, func(t *testing.T, base, got *v1.ConfigFile, m *v1.Manifest, n int) {
			assert.Equal(t, "/app/work", got.Config.WorkingDir, "WorkingDir")
			assert.Len(t, m.Layers, n+1, "layers")
			assert.Equal(t, "stevedore: workdir /app/work", got.History[len(got.History)-1].CreatedBy, "history created_by")
		}},
		{"WithWorkDir base's dir adds no layer", []Option{WithWorkDir("/srv")}, func(t *testing.T, base, got *v1.ConfigFile, m *v1.Manifest, n int) {
			want := n + 1
			if base.Config.WorkingDir == "/srv" {
				want = n
			}
			assert.Len(t, m.Layers, want, "layers (base WorkingDir %q)", base.Config.WorkingDir)
		}},
		{"WithEntrypoint clears inherited Cmd", []Option{WithEntrypoint("/app", "-v")}, func(t *testing.T, base, got *v1.ConfigFile, _ *v1.Manifest, _ int) {
			assert.Equal(t, []string{"/app", "-v"}, got.Config.Entrypoint, "Entrypoint")
			assert.Nil(t, got.Config.Cmd, "Cmd")
		}},
		{"WithEntrypoint then WithCmd", []Option{WithEntrypoint("/app"), WithCmd("serve")}, func(t *testing.T, base, got *v1.ConfigFile, _ *v1.Manifest, _ int) {
			assert.Equal(t, []string{"/app"}, got.Config.Entrypoint, "Entrypoint")
			assert.Equal(t, []string{"serve"}, got.Config.Cmd, "Cmd")
		}},
		{"WithCmd then WithEntrypoint keeps Cmd", []Option{WithCmd("serve"), WithEntrypoint("/app")}, func(t *testing.T, base, got *v1.ConfigFile, _ *v1.Manifest, _ int) {
			assert.Equal(t, []string{"serve"}, got.Config.Cmd, "Cmd")
		}},
		{"WithCmd", []Option{WithCmd("sh", "-c", "echo hi")}, func(t *testing.T, base, got *v1.ConfigFile, _ *v1.Manifest, _ int) {
			assert.Equal(t, []string{"sh", "-c", "echo hi"}, got.Config.Cmd, "Cmd")
			assert.True(t, slices.Equal(base.Config.Entrypoint, got.Config.Entrypoint), "Entrypoint = %q, want the base's %q", got.Config.Entrypoint, base.Config.Entrypoint)
		}},
		{"WithUser", []Option{WithUser("root"), WithUser("65532:65532")}, func(t *testing.T, base, got *v1.ConfigFile, _ *v1.Manifest, _ int) {
			assert.Equal(t, "65532:65532", got.Config.User, "User")
		}},
		{"WithLabel", []Option{WithLabel("org.opencontainers.image.source", "https://example.com/x")}, func(t *testing.T, base, got *v1.ConfigFile, _ *v1.Manifest, _ int) {
			assert.Equal(t, "https://example.com/x", got.Config.Labels["org.opencontainers.image.source"], "label org.opencontainers.image.source")
			for k, v := range base.Config.Labels {
				assert.Equal(t, v, got.Config.Labels[k], "base label %s", k)
			}
		}},
		{"WithExposedPort", []Option{WithExposedPort("8080"), WithExposedPort("53/udp")}, func(t *testing.T, base, got *v1.ConfigFile, _ *v1.Manifest, _ int) {
			assert.Equal(t, map[string]struct{}{"8080/tcp": {}, "53/udp": {}}, got.Config.ExposedPorts, "ExposedPorts")
		}},
		{"WithVolume", []Option{WithVolume("/data/")}, func(t *testing.T, base, got *v1.ConfigFile, _ *v1.Manifest, _ int) {
			assert.Equal(t, map[string]struct{}{"/data": {}}, got.Config.Volumes, "Volumes")
		}},
		{"WithStopSignal", []Option{WithStopSignal("SIGINT")}, func(t *testing.T, base, got *v1.ConfigFile, _ *v1.Manifest, _ int) {
			assert.Equal(t, "SIGINT", got.Config.StopSignal, "StopSignal")
		}},
		{"WithCreated", []Option{WithCreated(when), WithLayers(randomLayer(t, 5, types.OCILayer))}, func(t *testing.T, base, got *v1.ConfigFile, _ *v1.Manifest, _ int) {
			assert.True(t, got.Created.Time.Equal(when), "Created = %v, want %v", got.Created, when)
			last := got.History[len(got.History)-1].Created
			assert.True(t, last.Time.Equal(when), "Created of the last history entry = %v, want %v", last, when)
		}},
		{"default created is the base's", nil, func(t *testing.T, base, got *v1.ConfigFile, _ *v1.Manifest, _ int) {
			want := base.Created.Time
			if want.IsZero() {
				want = time.Unix(0, 0)
			}
			assert.True(t, got.Created.Time.Equal(want), "Created = %v, want %v", got.Created, want)
		}},
		{"WithLayers history", []Option{WithLayers(historyLayer{randomLayer(t, 6, types.OCILayer), "stevedore: dir ./dist -> /app"}, randomLayer(t, 7, types.OCILayer))}, func(t *testing.T, base, got *v1.ConfigFile, m *v1.Manifest, n int) {
			require.Len(t, m.Layers, n+2, "layers")
			h := got.History[len(got.History)-2:]
			assert.Equal(t, "stevedore: dir ./dist -> /app", h[0].CreatedBy, "history[-2].CreatedBy")
			assert.Equal(t, "stevedore: layer "+m.Layers[n+1].Digest.String(), h[1].CreatedBy, "history[-1].CreatedBy")
		}},
		{"WithLayerHistory", []Option{WithLayerHistory("COPY app /app", randomLayer(t, 12, types.OCILayer))}, func(t *testing.T, base, got *v1.ConfigFile, m *v1.Manifest, n int) {
			assert.Equal(t, "COPY app /app", got.History[len(got.History)-1].CreatedBy, "last history created_by")
			assert.Len(t, m.Layers, n+1, "layers")
		}},
		{"WithConfigHistory", []Option{WithConfigHistory(), WithEnv("A", "1"), WithLayers(randomLayer(t, 8, types.OCILayer)), WithUser("app")}, func(t *testing.T, base, got *v1.ConfigFile, _ *v1.Manifest, _ int) {
			h := got.History[len(got.History)-3:]
			want := []v1.History{
				{CreatedBy: "stevedore: layer ", EmptyLayer: false},
				{CreatedBy: "stevedore: env A=1", EmptyLayer: true},
				{CreatedBy: "stevedore: user app", EmptyLayer: true},
			}
			for i := range want {
				assert.True(t, strings.HasPrefix(h[i].CreatedBy, want[i].CreatedBy), "history[%d].CreatedBy = %q, want %q...", i, h[i].CreatedBy, want[i].CreatedBy)
				assert.Equal(t, want[i].EmptyLayer, h[i].EmptyLayer, "history[%d].EmptyLayer", i)
			}
		}},
		{"later options win", []Option{WithUser("a"), WithEnv("K", "1"), WithoutEnv("K"), WithEnv("K", "2"), WithUser("b")}, func(t *testing.T, base, got *v1.ConfigFile, _ *v1.Manifest, _ int) {
			v, _ := lookupEnv(got.Config.Env, "K")
			assert.Equal(t, "2", v, "K")
			assert.Equal(t, "b", got.Config.User, "User")
		}},
	}
	for _, b := range testBases(t) {
		baseCF := configOf(t, b.img)
		baseM := manifestOf(t, b.img)
		for _, tc := range tests {
			t.Run(b.name+"/"+tc.name, func(t *testing.T) {
				img := mustBuild(t, b.img, tc.opts...)
				cf := configOf(t, img)
				assert.Equal(t, baseCF.OS+"/"+baseCF.Architecture, cf.OS+"/"+cf.Architecture, "platform (the base's)")
				m := manifestOf(t, img)
				for i, d := range baseM.Layers {
					assert.Equal(t, d.Digest, m.Layers[i].Digest, "base layer %d digest", i)
				}
				assert.Equal(t, baseM.MediaType, m.MediaType, "manifest media type (the base's)")
				tc.check(t, baseCF, cf, m, len(baseM.Layers))
			})
		}
	}
}

func TestAnnotations(t *testing.T) {
	ref, err := name.ParseReference("registry.example/team/base:1.0")
	require.NoError(t, err)
	for _, b := range testBases(t) {
		t.Run(b.name, func(t *testing.T) {
			base := refImage{b.img, ref}
			baseDigest := digestOf(t, b.img)
			img, err := Build(t.Context(), base, WithAnnotation("org.opencontainers.image.title", "demo"))
			mt, mtErr := b.img.MediaType()
			require.NoError(t, mtErr)
			if mt == types.DockerManifestSchema2 {
				require.ErrorIs(t, err, ErrAnnotationsNeedOCI, "Build(docker base, WithAnnotation)")
				// Automatic annotations are skipped on Docker images.
				m := manifestOf(t, mustBuild(t, base))
				assert.Nil(t, m.Annotations, "Docker manifest annotations")
				img = mustBuild(t, base, WithOCIMediaTypes(), WithAnnotation("org.opencontainers.image.title", "demo"))
			} else {
				require.NoError(t, err)
			}
			checkImage(t, img)
			m := manifestOf(t, img)
			want := map[string]string{
				BaseNameAnnotation:               "registry.example/team/base:1.0",
				BaseDigestAnnotation:             baseDigest.String(),
				"org.opencontainers.image.title": "demo",
			}
			assert.Equal(t, want, m.Annotations, "annotations")
			// An explicit annotation wins over the automatic one.
			m = manifestOf(t, mustBuild(t, base, WithOCIMediaTypes(), WithAnnotation(BaseNameAnnotation, "mine")))
			assert.Equal(t, "mine", m.Annotations[BaseNameAnnotation], "annotation %s", BaseNameAnnotation)
		})
	}
}

func TestScratch(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "")
	tests := []struct {
		opts []Option
		want string
	}{
		{nil, "linux/amd64"},
		{[]Option{WithPlatform("linux/arm64")}, "linux/arm64"},
		{[]Option{WithPlatform("linux/arm/v7")}, "linux/arm/v7"},
	}
	for _, tc := range tests {
		img := mustBuild(t, nil, tc.opts...)
		cf := configOf(t, img)
		assert.Equal(t, tc.want, cf.Platform().String(), "Build(nil).Platform")
		assert.True(t, cf.Created.Time.Equal(time.Unix(0, 0)), "Build(nil).Created = %v, want the Unix epoch", cf.Created)
		m := manifestOf(t, img)
		assert.Equal(t, types.OCIManifestSchema1, m.MediaType, "Build(nil) manifest media type")
		assert.Equal(t, types.OCIConfigJSON, m.Config.MediaType, "Build(nil) config media type")
		// The image spec's schema wants a layer: scratch gets an empty one,
		// the tar of nothing (1024 zero bytes), whose diff ID is known.
		zero := sha256.Sum256(make([]byte, 1024))
		assert.Equal(t, []v1.Hash{{Algorithm: "sha256", Hex: hex.EncodeToString(zero[:])}}, cf.RootFS.DiffIDs, "scratch diff_ids")
		require.Len(t, cf.History, 1)
		assert.Equal(t, "stevedore: empty layer (an image has at least one)", cf.History[0].CreatedBy)
	}
}

func TestSourceDateEpoch(t *testing.T) {
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	for _, b := range append(testBases(t), testBase{"scratch", nil}) {
		cf := configOf(t, mustBuild(t, b.img, WithLayers(randomLayer(t, 1, types.OCILayer))))
		want := time.Unix(1700000000, 0)
		assert.True(t, cf.Created.Time.Equal(want), "%s: Created = %v, want %v", b.name, cf.Created, want)
	}
	t.Setenv("SOURCE_DATE_EPOCH", "yesterday")
	_, err := Build(t.Context(), nil)
	assert.ErrorContains(t, err, "SOURCE_DATE_EPOCH", "Build with SOURCE_DATE_EPOCH=yesterday")
}

func TestPlatformMismatch(t *testing.T) {
	base := configuredBase(t, mediatype.OCI) // linux/arm64
	_, err := Build(t.Context(), base, WithPlatform("linux/amd64"))
	assert.ErrorIs(t, err, ErrPlatformMismatch, "Build(arm64 base, WithPlatform(amd64))")
	mustBuild(t, base, WithPlatform("linux/arm64"))
}

func TestInvalidOptions(t *testing.T) {
	tests := []struct {
		name string
		opt  Option
	}{
		{"WithLayers(nil)", WithLayers(nil)},
		{"WithLayerHistory empty", WithLayerHistory("", randomLayer(t, 1, types.OCILayer))},
		{"WithEnv empty key", WithEnv("", "x")},
		{"WithEnv = in key", WithEnv("A=B", "x")},
		{"WithoutEnv empty", WithoutEnv("")},
		{"WithPathPrepend relative", WithPathPrepend("bin")},
		{"WithPathAppend colon", WithPathAppend("/a:/b")},
		{"WithPathAppend none", WithPathAppend()},
		{"WithWorkDir relative", WithWorkDir("app")},
		{"WithEntrypoint empty", WithEntrypoint("")},
		{"WithUser empty", WithUser("")},
		{"WithUser three parts", WithUser("a:b:c")},
		{"WithUser empty group", WithUser("a:")},
		{"WithLabel empty", WithLabel("", "v")},
		{"WithAnnotation empty", WithAnnotation("", "v")},
		{"WithExposedPort proto", WithExposedPort("80/http")},
		{"WithExposedPort zero", WithExposedPort("0")},
		{"WithExposedPort big", WithExposedPort("70000/tcp")},
		{"WithExposedPort range", WithExposedPort("80-90")},
		{"WithVolume relative", WithVolume("data")},
		{"WithStopSignal", WithStopSignal("TERM2")},
		{"WithStopSignal number", WithStopSignal("0")},
		{"WithCreated zero", WithCreated(time.Time{})},
		{"WithPlatform", WithPlatform("linux")},
		{"WithCache empty", WithCache("")},
		{"WithLayerBuilt nil", WithLayerBuilt(nil)},
	}
	for _, tc := range tests {
		_, err := Build(t.Context(), nil, tc.opt)
		assert.ErrorIs(t, err, ErrInvalidOption, "Build(%s)", tc.name)
	}
	for name, opt := range map[string]IndexOption{
		"WithPlatforms none":     WithPlatforms(),
		"WithPlatformLayers nil": WithPlatformLayers(nil),
		"WithPlatform":           WithPlatform("linux/amd64"), // Build's, not BuildIndex's
	} {
		_, err := BuildIndex(t.Context(), nil, opt)
		assert.ErrorIs(t, err, ErrInvalidOption, "BuildIndex(%s)", name)
	}
	err := WriteOCITarball(t.Context(), t.TempDir()+"/x.tar", mustBuild(t, nil), WithRefName("has space"))
	assert.ErrorIs(t, err, ErrInvalidOption, "WriteOCITarball(WithRefName with a space)")
}

func TestHistoryAlignment(t *testing.T) {
	base := configuredBase(t, mediatype.OCI) // 2 layers
	tests := []struct {
		name    string
		history []v1.History
	}{
		{"missing", nil},
		{"shorter", []v1.History{{CreatedBy: "one"}}},
		{"only empty", []v1.History{{CreatedBy: "ENV", EmptyLayer: true}}},
		{"longer", []v1.History{{CreatedBy: "a"}, {CreatedBy: "b"}, {CreatedBy: "c"}, {CreatedBy: "d"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cf := configOf(t, base)
			cf.History = tc.history
			b, err := mutateConfigFile(base, cf)
			require.NoError(t, err)
			img := mustBuild(t, b, WithLayers(randomLayer(t, 3, types.OCILayer)))
			got := configOf(t, img)
			assert.Len(t, got.RootFS.DiffIDs, 3, "diff_ids")
			last := got.History[len(got.History)-1]
			assert.True(t, strings.HasPrefix(last.CreatedBy, "stevedore: layer sha256:"), "last history created_by = %q, want the added layer's", last.CreatedBy)
			assert.False(t, last.EmptyLayer, "last history empty_layer")
		})
	}
}

func TestUnsupportedBase(t *testing.T) {
	base := configuredBase(t, mediatype.OCI)
	cf := configOf(t, base)
	cf.RootFS.DiffIDs = cf.RootFS.DiffIDs[:1]
	b, err := mutateConfigFile(base, cf)
	require.NoError(t, err)
	_, err = Build(t.Context(), b)
	assert.ErrorIs(t, err, ErrUnsupportedBase, "Build(base with 1 diff_id for 2 layers)")
}

func TestBuildCancelled(t *testing.T) {
	ctx, cancel := contextWithCancel(t)
	cancel()
	_, err := Build(ctx, nil)
	assert.ErrorIs(t, err, errCanceled, "Build(cancelled ctx)")
}

// untouchable is a base whose layers fail the test when their bytes are
// read: Build must never read or re-compress base layers.
func untouchable(t *testing.T, img v1.Image) v1.Image {
	return layersWrapped{img, func(l v1.Layer) v1.Layer { return untouchableLayer{l, t} }}
}

type untouchableLayer struct {
	v1.Layer
	t *testing.T
}

func (l untouchableLayer) Compressed() (io.ReadCloser, error) {
	l.t.Error("base layer Compressed() called")
	return nil, errors.New("no")
}

func (l untouchableLayer) Uncompressed() (io.ReadCloser, error) {
	l.t.Error("base layer Uncompressed() called")
	return nil, errors.New("no")
}

// TestBaseLayersNotRead: Build never re-compresses base layers, never
// reads them when the added layers need no base (ggcr's layers are added
// as they are), and reads each at most once for the base's file tree,
// which WithCache keeps: the next build reads none.
func TestBaseLayersNotRead(t *testing.T) {
	for _, fam := range []mediatype.Family{mediatype.OCI, mediatype.Docker} {
		base := untouchable(t, configuredBase(t, fam))
		for _, opts := range [][]Option{
			{WithLayers(randomLayer(t, 1, types.OCILayer))},
			{WithLayers(tarLayer(t, types.OCILayerZStd, tarFile{name: "z", body: "z"}))}, // converts a Docker base
		} {
			img, err := Build(t.Context(), base, opts...)
			require.NoError(t, err)
			_, err = img.RawManifest()
			require.NoError(t, err)
			_, err = img.RawConfigFile()
			require.NoError(t, err)
		}
	}
	cache := t.TempDir()
	var reads atomic.Int64
	base := layersWrapped{configuredBase(t, mediatype.OCI), func(l v1.Layer) v1.Layer { return countingLayer{l, &reads} }}
	files := func() v1.Layer {
		l, err := layer.FromFiles([]layer.File{{Path: "/x/f", Data: []byte("f")}}, layer.WithCache(cache))
		require.NoError(t, err)
		return l
	}
	_, err := Build(t.Context(), base, WithLayers(files()), WithWorkDir("/x"), WithCache(cache))
	require.NoError(t, err)
	assert.Equal(t, int64(2), reads.Load(), "base layers read by a first build (each indexed once)")
	reads.Store(0)
	_, err = Build(t.Context(), base, WithLayers(files()), WithWorkDir("/x"), WithCache(cache))
	require.NoError(t, err)
	assert.Equal(t, int64(0), reads.Load(), "base layers read by a second build with the cache")
}

// countingLayer counts the reads of its bytes in n.
type countingLayer struct {
	v1.Layer
	n *atomic.Int64
}

func (l countingLayer) Compressed() (io.ReadCloser, error) {
	l.n.Add(1)
	return l.Layer.Compressed()
}

func (l countingLayer) Uncompressed() (io.ReadCloser, error) {
	l.n.Add(1)
	return l.Layer.Uncompressed()
}
