package image

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"reflect"
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
			if want := append(slices.Clone(base.Config.Env), "FOO=bar"); !slices.Equal(got.Config.Env, want) {
				t.Errorf("Env = %q, want %q", got.Config.Env, want)
			}
		}},
		{"WithEnv replaces in place", []Option{WithEnv("HOME", "/a"), WithEnv("HOME", "/home/app")}, func(t *testing.T, base, got *v1.ConfigFile, _ *v1.Manifest, _ int) {
			want := setEnv(base.Config.Env, "HOME", "/home/app")
			if !slices.Equal(got.Config.Env, want) {
				t.Errorf("Env = %q, want %q", got.Config.Env, want)
			}
			if v, _ := lookupEnv(got.Config.Env, "HOME"); v != "/home/app" {
				t.Errorf("HOME = %q, want /home/app", v)
			}
		}},
		{"WithoutEnv", []Option{WithEnv("X", "1"), WithoutEnv("HOME"), WithoutEnv("X")}, func(t *testing.T, base, got *v1.ConfigFile, _ *v1.Manifest, _ int) {
			if want := unsetEnv(base.Config.Env, "HOME"); !slices.Equal(got.Config.Env, want) {
				t.Errorf("Env = %q, want %q", got.Config.Env, want)
			}
		}},
		{"WithPathPrepend", []Option{WithPathPrepend("/app/bin", "/usr/bin", "/app/bin")}, func(t *testing.T, base, got *v1.ConfigFile, _ *v1.Manifest, _ int) {
			old, ok := lookupEnv(base.Config.Env, "PATH")
			if !ok {
				old = DefaultPath
			}
			p, _ := lookupEnv(got.Config.Env, "PATH")
			if want := "/app/bin:" + old; p != want { // /usr/bin is on both paths already
				t.Errorf("PATH = %q, want %q", p, want)
			}
		}},
		{"WithPathAppend", []Option{WithPathAppend("/opt/tools/bin"), WithPathAppend("/opt/tools/bin", "/bin")}, func(t *testing.T, base, got *v1.ConfigFile, _ *v1.Manifest, _ int) {
			old, ok := lookupEnv(base.Config.Env, "PATH")
			if !ok {
				old = DefaultPath
			}
			p, _ := lookupEnv(got.Config.Env, "PATH")
			if want := old + ":/opt/tools/bin"; p != want {
				t.Errorf("PATH = %q, want %q", p, want)
			}
		}},
		{"WithWorkDir new dir adds a layer", []Option{WithWorkDir("/app/work/")}, func(t *testing.T, base, got *v1.ConfigFile, m *v1.Manifest, n int) {
			if got.Config.WorkingDir != "/app/work" {
				t.Errorf("WorkingDir = %q, want /app/work", got.Config.WorkingDir)
			}
			if len(m.Layers) != n+1 {
				t.Errorf("layers = %d, want %d", len(m.Layers), n+1)
			}
			if h := got.History[len(got.History)-1]; h.CreatedBy != "stevedore: workdir /app/work" {
				t.Errorf("history created_by = %q, want %q", h.CreatedBy, "stevedore: workdir /app/work")
			}
		}},
		{"WithWorkDir base's dir adds no layer", []Option{WithWorkDir("/srv")}, func(t *testing.T, base, got *v1.ConfigFile, m *v1.Manifest, n int) {
			want := n + 1
			if base.Config.WorkingDir == "/srv" {
				want = n
			}
			if len(m.Layers) != want {
				t.Errorf("layers = %d, want %d (base WorkingDir %q)", len(m.Layers), want, base.Config.WorkingDir)
			}
		}},
		{"WithEntrypoint clears inherited Cmd", []Option{WithEntrypoint("/app", "-v")}, func(t *testing.T, base, got *v1.ConfigFile, _ *v1.Manifest, _ int) {
			if !slices.Equal(got.Config.Entrypoint, []string{"/app", "-v"}) || got.Config.Cmd != nil {
				t.Errorf("Entrypoint, Cmd = %q, %q, want [/app -v], []", got.Config.Entrypoint, got.Config.Cmd)
			}
		}},
		{"WithEntrypoint then WithCmd", []Option{WithEntrypoint("/app"), WithCmd("serve")}, func(t *testing.T, base, got *v1.ConfigFile, _ *v1.Manifest, _ int) {
			if !slices.Equal(got.Config.Entrypoint, []string{"/app"}) || !slices.Equal(got.Config.Cmd, []string{"serve"}) {
				t.Errorf("Entrypoint, Cmd = %q, %q, want [/app], [serve]", got.Config.Entrypoint, got.Config.Cmd)
			}
		}},
		{"WithCmd then WithEntrypoint keeps Cmd", []Option{WithCmd("serve"), WithEntrypoint("/app")}, func(t *testing.T, base, got *v1.ConfigFile, _ *v1.Manifest, _ int) {
			if !slices.Equal(got.Config.Cmd, []string{"serve"}) {
				t.Errorf("Cmd = %q, want [serve]", got.Config.Cmd)
			}
		}},
		{"WithCmd", []Option{WithCmd("sh", "-c", "echo hi")}, func(t *testing.T, base, got *v1.ConfigFile, _ *v1.Manifest, _ int) {
			if !slices.Equal(got.Config.Cmd, []string{"sh", "-c", "echo hi"}) || !slices.Equal(got.Config.Entrypoint, base.Config.Entrypoint) {
				t.Errorf("Cmd, Entrypoint = %q, %q", got.Config.Cmd, got.Config.Entrypoint)
			}
		}},
		{"WithUser", []Option{WithUser("root"), WithUser("65532:65532")}, func(t *testing.T, base, got *v1.ConfigFile, _ *v1.Manifest, _ int) {
			if got.Config.User != "65532:65532" {
				t.Errorf("User = %q, want 65532:65532", got.Config.User)
			}
		}},
		{"WithLabel", []Option{WithLabel("org.opencontainers.image.source", "https://example.com/x")}, func(t *testing.T, base, got *v1.ConfigFile, _ *v1.Manifest, _ int) {
			if got.Config.Labels["org.opencontainers.image.source"] != "https://example.com/x" {
				t.Errorf("Labels = %v", got.Config.Labels)
			}
			for k, v := range base.Config.Labels {
				if got.Config.Labels[k] != v {
					t.Errorf("base label %s = %q, want %q", k, got.Config.Labels[k], v)
				}
			}
		}},
		{"WithExposedPort", []Option{WithExposedPort("8080"), WithExposedPort("53/udp")}, func(t *testing.T, base, got *v1.ConfigFile, _ *v1.Manifest, _ int) {
			want := map[string]struct{}{"8080/tcp": {}, "53/udp": {}}
			if !reflect.DeepEqual(got.Config.ExposedPorts, want) {
				t.Errorf("ExposedPorts = %v, want %v", got.Config.ExposedPorts, want)
			}
		}},
		{"WithVolume", []Option{WithVolume("/data/")}, func(t *testing.T, base, got *v1.ConfigFile, _ *v1.Manifest, _ int) {
			if _, ok := got.Config.Volumes["/data"]; !ok || len(got.Config.Volumes) != 1 {
				t.Errorf("Volumes = %v, want /data", got.Config.Volumes)
			}
		}},
		{"WithStopSignal", []Option{WithStopSignal("SIGINT")}, func(t *testing.T, base, got *v1.ConfigFile, _ *v1.Manifest, _ int) {
			if got.Config.StopSignal != "SIGINT" {
				t.Errorf("StopSignal = %q, want SIGINT", got.Config.StopSignal)
			}
		}},
		{"WithCreated", []Option{WithCreated(when), WithLayers(randomLayer(t, 5, types.OCILayer))}, func(t *testing.T, base, got *v1.ConfigFile, _ *v1.Manifest, _ int) {
			if !got.Created.Time.Equal(when) || !got.History[len(got.History)-1].Created.Time.Equal(when) {
				t.Errorf("Created = %v, last history %v, want %v", got.Created, got.History[len(got.History)-1].Created, when)
			}
		}},
		{"default created is the base's", nil, func(t *testing.T, base, got *v1.ConfigFile, _ *v1.Manifest, _ int) {
			want := base.Created.Time
			if want.IsZero() {
				want = time.Unix(0, 0)
			}
			if !got.Created.Time.Equal(want) {
				t.Errorf("Created = %v, want %v", got.Created, want)
			}
		}},
		{"WithLayers history", []Option{WithLayers(historyLayer{randomLayer(t, 6, types.OCILayer), "stevedore: dir ./dist -> /app"}, randomLayer(t, 7, types.OCILayer))}, func(t *testing.T, base, got *v1.ConfigFile, m *v1.Manifest, n int) {
			if len(m.Layers) != n+2 {
				t.Fatalf("layers = %d, want %d", len(m.Layers), n+2)
			}
			h := got.History[len(got.History)-2:]
			if h[0].CreatedBy != "stevedore: dir ./dist -> /app" {
				t.Errorf("history[-2].CreatedBy = %q", h[0].CreatedBy)
			}
			if want := "stevedore: layer " + m.Layers[n+1].Digest.String(); h[1].CreatedBy != want {
				t.Errorf("history[-1].CreatedBy = %q, want %q", h[1].CreatedBy, want)
			}
		}},
		{"WithLayerHistory", []Option{WithLayerHistory("COPY app /app", randomLayer(t, 12, types.OCILayer))}, func(t *testing.T, base, got *v1.ConfigFile, m *v1.Manifest, n int) {
			if h := got.History[len(got.History)-1]; h.CreatedBy != "COPY app /app" || len(m.Layers) != n+1 {
				t.Errorf("last history = %+v, layers %d; want COPY app /app, %d", h, len(m.Layers), n+1)
			}
		}},
		{"WithConfigHistory", []Option{WithConfigHistory(), WithEnv("A", "1"), WithLayers(randomLayer(t, 8, types.OCILayer)), WithUser("app")}, func(t *testing.T, base, got *v1.ConfigFile, _ *v1.Manifest, _ int) {
			h := got.History[len(got.History)-3:]
			want := []v1.History{
				{CreatedBy: "stevedore: layer ", EmptyLayer: false},
				{CreatedBy: "stevedore: env A=1", EmptyLayer: true},
				{CreatedBy: "stevedore: user app", EmptyLayer: true},
			}
			for i := range want {
				if !strings.HasPrefix(h[i].CreatedBy, want[i].CreatedBy) || h[i].EmptyLayer != want[i].EmptyLayer {
					t.Errorf("history[%d] = %+v, want %+v", i, h[i], want[i])
				}
			}
		}},
		{"later options win", []Option{WithUser("a"), WithEnv("K", "1"), WithoutEnv("K"), WithEnv("K", "2"), WithUser("b")}, func(t *testing.T, base, got *v1.ConfigFile, _ *v1.Manifest, _ int) {
			if v, _ := lookupEnv(got.Config.Env, "K"); v != "2" || got.Config.User != "b" {
				t.Errorf("K, User = %q, %q, want 2, b", v, got.Config.User)
			}
		}},
	}
	for _, b := range testBases(t) {
		baseCF := configOf(t, b.img)
		baseM := manifestOf(t, b.img)
		for _, tc := range tests {
			t.Run(b.name+"/"+tc.name, func(t *testing.T) {
				img := mustBuild(t, b.img, tc.opts...)
				cf := configOf(t, img)
				if cf.OS != baseCF.OS || cf.Architecture != baseCF.Architecture {
					t.Errorf("platform = %s/%s, want the base's %s/%s", cf.OS, cf.Architecture, baseCF.OS, baseCF.Architecture)
				}
				m := manifestOf(t, img)
				for i, d := range baseM.Layers {
					if m.Layers[i].Digest != d.Digest {
						t.Errorf("base layer %d digest = %s, want %s", i, m.Layers[i].Digest, d.Digest)
					}
				}
				if m.MediaType != baseM.MediaType {
					t.Errorf("manifest media type = %s, want the base's %s", m.MediaType, baseM.MediaType)
				}
				tc.check(t, baseCF, cf, m, len(baseM.Layers))
			})
		}
	}
}

func TestAnnotations(t *testing.T) {
	ref, err := name.ParseReference("registry.example/team/base:1.0")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range testBases(t) {
		t.Run(b.name, func(t *testing.T) {
			base := refImage{b.img, ref}
			baseDigest := digestOf(t, b.img)
			img, err := Build(t.Context(), base, WithAnnotation("org.opencontainers.image.title", "demo"))
			mt, _ := b.img.MediaType()
			if mt == types.DockerManifestSchema2 {
				if !errors.Is(err, ErrAnnotationsNeedOCI) {
					t.Fatalf("Build(docker base, WithAnnotation) error = %v, want ErrAnnotationsNeedOCI", err)
				}
				// Automatic annotations are skipped on Docker images.
				m := manifestOf(t, mustBuild(t, base))
				if m.Annotations != nil {
					t.Errorf("Docker manifest annotations = %v, want none", m.Annotations)
				}
				img = mustBuild(t, base, WithOCIMediaTypes(), WithAnnotation("org.opencontainers.image.title", "demo"))
			} else if err != nil {
				t.Fatal(err)
			}
			checkImage(t, img)
			m := manifestOf(t, img)
			want := map[string]string{
				BaseNameAnnotation:               "registry.example/team/base:1.0",
				BaseDigestAnnotation:             baseDigest.String(),
				"org.opencontainers.image.title": "demo",
			}
			if !reflect.DeepEqual(m.Annotations, want) {
				t.Errorf("annotations = %v, want %v", m.Annotations, want)
			}
			// An explicit annotation wins over the automatic one.
			m = manifestOf(t, mustBuild(t, base, WithOCIMediaTypes(), WithAnnotation(BaseNameAnnotation, "mine")))
			if m.Annotations[BaseNameAnnotation] != "mine" {
				t.Errorf("base.name = %q, want mine", m.Annotations[BaseNameAnnotation])
			}
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
		if got := cf.Platform().String(); got != tc.want {
			t.Errorf("Build(nil).Platform = %s, want %s", got, tc.want)
		}
		if !cf.Created.Time.Equal(time.Unix(0, 0)) {
			t.Errorf("Build(nil).Created = %v, want the Unix epoch", cf.Created)
		}
		m := manifestOf(t, img)
		if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON {
			t.Errorf("Build(nil) media types = %s, %s, want OCI", m.MediaType, m.Config.MediaType)
		}
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
		if want := time.Unix(1700000000, 0); !cf.Created.Time.Equal(want) {
			t.Errorf("%s: Created = %v, want %v", b.name, cf.Created, want)
		}
	}
	t.Setenv("SOURCE_DATE_EPOCH", "yesterday")
	if _, err := Build(t.Context(), nil); err == nil || !strings.Contains(err.Error(), "SOURCE_DATE_EPOCH") {
		t.Errorf("Build with SOURCE_DATE_EPOCH=yesterday error = %v, want one naming it", err)
	}
}

func TestPlatformMismatch(t *testing.T) {
	base := configuredBase(t, mediatype.OCI) // linux/arm64
	if _, err := Build(t.Context(), base, WithPlatform("linux/amd64")); !errors.Is(err, ErrPlatformMismatch) {
		t.Errorf("Build(arm64 base, WithPlatform(amd64)) error = %v, want ErrPlatformMismatch", err)
	}
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
		{"WithStopSignal", WithStopSignal("TERM")},
		{"WithStopSignal number", WithStopSignal("99")},
		{"WithCreated zero", WithCreated(time.Time{})},
		{"WithPlatform", WithPlatform("linux")},
		{"WithCache empty", WithCache("")},
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
			if err != nil {
				t.Fatal(err)
			}
			img := mustBuild(t, b, WithLayers(randomLayer(t, 3, types.OCILayer)))
			got := configOf(t, img)
			if n := len(got.RootFS.DiffIDs); n != 3 {
				t.Errorf("diff_ids = %d, want 3", n)
			}
			last := got.History[len(got.History)-1]
			if !strings.HasPrefix(last.CreatedBy, "stevedore: layer sha256:") || last.EmptyLayer {
				t.Errorf("last history = %+v, want the added layer's", last)
			}
		})
	}
}

func TestUnsupportedBase(t *testing.T) {
	base := configuredBase(t, mediatype.OCI)
	cf := configOf(t, base)
	cf.RootFS.DiffIDs = cf.RootFS.DiffIDs[:1]
	b, err := mutateConfigFile(base, cf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Build(t.Context(), b); !errors.Is(err, ErrUnsupportedBase) {
		t.Errorf("Build(base with 1 diff_id for 2 layers) error = %v, want ErrUnsupportedBase", err)
	}
}

func TestBuildCancelled(t *testing.T) {
	ctx, cancel := contextWithCancel(t)
	cancel()
	if _, err := Build(ctx, nil); !errors.Is(err, errCanceled) {
		t.Errorf("Build(cancelled ctx) error = %v, want context.Canceled", err)
	}
}

// untouchable is a base whose layers fail the test when their bytes are
// read: Build must never read or re-compress base layers.
type untouchable struct {
	v1.Image
	t *testing.T
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

func (i untouchable) Layers() ([]v1.Layer, error) {
	ls, err := i.Image.Layers()
	for j := range ls {
		ls[j] = untouchableLayer{ls[j], i.t}
	}
	return ls, err
}

// TestBaseLayersNotRead: Build never re-compresses base layers, never
// reads them when the added layers need no base (ggcr's layers are added
// as they are), and reads each at most once for the base's file tree,
// which WithCache keeps: the next build reads none.
func TestBaseLayersNotRead(t *testing.T) {
	for _, fam := range []mediatype.Family{mediatype.OCI, mediatype.Docker} {
		base := untouchable{configuredBase(t, fam), t}
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
	base := &countingBase{Image: configuredBase(t, mediatype.OCI)}
	files := func() v1.Layer {
		l, err := layer.FromFiles([]layer.File{{Path: "/x/f", Data: []byte("f")}}, layer.WithCache(cache))
		require.NoError(t, err)
		return l
	}
	_, err := Build(t.Context(), base, WithLayers(files()), WithWorkDir("/x"), WithCache(cache))
	require.NoError(t, err)
	assert.Equal(t, 2, base.reads(), "base layers read by a first build (each indexed once)")
	base.n.Store(0)
	_, err = Build(t.Context(), base, WithLayers(files()), WithWorkDir("/x"), WithCache(cache))
	require.NoError(t, err)
	assert.Equal(t, 0, base.reads(), "base layers read by a second build with the cache")
}

// countingBase counts the reads of its layers' bytes.
type countingBase struct {
	v1.Image
	n atomic.Int64
}

func (b *countingBase) reads() int { return int(b.n.Load()) }

func (b *countingBase) Layers() ([]v1.Layer, error) {
	ls, err := b.Image.Layers()
	for j := range ls {
		ls[j] = countingLayer{ls[j], &b.n}
	}
	return ls, err
}

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
