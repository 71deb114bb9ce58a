package registry

import (
	"fmt"
	"io"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

func TestPushPullRoundTrip(t *testing.T) {
	s := registrytest.New(t)
	ctx := ctxT(t)
	img := randomImage(t, 3, 2048)
	ref := s.Ref("app:v1")
	d, err := Push(ctx, ref, img)
	require.NoError(t, err, "Push(%s)", ref)
	assert.Equal(t, digest(t, img).String(), d.DigestStr(), "Push(%s) digest", ref)
	assert.Equal(t, 4, s.Stats().BlobUploads, "BlobUploads after first push (3 layers + config)")

	pulled, err := Pull(ctx, ref)
	require.NoError(t, err, "Pull(%s)", ref)
	assert.Equal(t, digest(t, img), digest(t, pulled), "Pull(%s) digest", ref)
	validImage(t, pulled)
	assertReference(t, pulled, ref, "Pull("+ref+")")

	// By digest too.
	byDigest, err := Pull(ctx, d.String())
	require.NoError(t, err, "Pull(%s)", d)
	assert.Equal(t, d.DigestStr(), digest(t, byDigest).String(), "Pull(%s) digest", d)
}

func TestRepushUploadsNothing(t *testing.T) {
	s := registrytest.New(t)
	ctx := ctxT(t)
	img := randomImage(t, 3, 1024)
	_, err := Push(ctx, s.Ref("app:v1"), img)
	require.NoError(t, err)
	for _, tc := range []struct {
		tag           string // the same tag, and a new tag in the same repository
		manifestPUTs  int
		lastEvent     Event
		skippedEvents int
	}{
		// The manifest is there: no blob is even checked.
		{"v1", 0, EventManifestExists, 0},
		{"v2", 1, EventManifest, 4},
	} {
		s.ResetStats()
		var events []Progress
		ref := s.Ref("app:" + tc.tag)
		_, err := Push(ctx, ref, img, WithProgress(func(p Progress) { events = append(events, p) }))
		require.NoError(t, err)
		st := s.Stats()
		assert.Zero(t, st.BlobUploads, "re-push %s: BlobUploads", ref)
		assert.Zero(t, st.Requests["PATCH upload"]+st.Requests["POST upload"], "re-push %s: upload requests (%v)", ref, st.Requests)
		assert.Equal(t, tc.manifestPUTs, st.ManifestPUTs, "push %s: ManifestPUTs", ref)
		require.NotEmpty(t, events)
		assert.Equal(t, tc.lastEvent, events[len(events)-1].Event, "push %s: last event", ref)
		skipped := 0
		for _, e := range events {
			if e.Event == EventSkipped {
				skipped++
			}
		}
		assert.Equal(t, tc.skippedEvents, skipped, "push %s: skipped events", ref)
	}
}

// appendRandom appends one random layer to base, the way image.Build would.
func appendRandom(t *testing.T, base v1.Image) v1.Image {
	t.Helper()
	l, err := random.Layer(1500, types.OCILayer)
	require.NoError(t, err)
	img, err := mutate.AppendLayers(base, l)
	require.NoError(t, err)
	return img
}

func TestPulledBaseLayersAreNeverDownloaded(t *testing.T) {
	for _, tc := range []struct {
		name, dst                string
		faults                   []registrytest.Fault
		wantMounts, wantBlobGETs int
		wantUploads              int
	}{
		// The one blob GET is the base's config, which mutate reads to
		// append the new layer's diff ID.
		// Same repository: base blobs are found by HEAD.
		{name: "same repository", dst: "base:app", wantBlobGETs: 1, wantUploads: 2},
		// Another repository: base blobs are mounted.
		{name: "other repository", dst: "app:v1", wantMounts: 2, wantBlobGETs: 1, wantUploads: 2},
		// Mount refused: the base layers must be read to be uploaded.
		{name: "mount refused", dst: "app:v1", faults: []registrytest.Fault{registrytest.RefuseMounts()}, wantBlobGETs: 3, wantUploads: 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := registrytest.New(t, registrytest.WithFaults(tc.faults...))
			ctx := ctxT(t)
			_, err := s.SeedImage(ctx, "base:latest")
			require.NoError(t, err)
			base, err := Pull(ctx, s.Ref("base:latest"))
			require.NoError(t, err)
			img := appendRandom(t, base)
			s.ResetStats()
			d, err := Push(ctx, s.Ref(tc.dst), img)
			require.NoError(t, err, "Push(%s)", tc.dst)
			st := s.Stats()
			assert.Equal(t, tc.wantBlobGETs, st.BlobGETs, "Push(%s): BlobGETs", tc.dst)
			assert.Equal(t, tc.wantMounts, st.Mounts, "Push(%s): Mounts", tc.dst)
			assert.Equal(t, tc.wantUploads, st.BlobUploads, "Push(%s): BlobUploads", tc.dst)
			if len(tc.faults) == 0 {
				baseLayers, err := base.Layers()
				require.NoError(t, err)
				for _, l := range baseLayers {
					assert.Zero(t, st.Downloads[digest(t, l)], "Push(%s) downloads of base layer %s", tc.dst, digest(t, l))
				}
			}
			assert.Equal(t, len(tc.faults) > 0, st.MountsRefused > 0, "MountsRefused = %d", st.MountsRefused)
			got, err := Pull(ctx, d.String())
			require.NoError(t, err)
			validImage(t, got)
		})
	}
}

func TestProgressReportsEveryBlob(t *testing.T) {
	s := registrytest.New(t)
	ctx := ctxT(t)
	img := randomImage(t, 3, 100_000)
	var (
		mu     sync.Mutex
		events []Progress
	)
	_, err := Push(ctx, s.Ref("app:v1"), img, WithProgress(func(p Progress) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, p)
	}), WithJobs(2))
	require.NoError(t, err)
	require.NotEmpty(t, events)
	uploaded := map[v1.Hash]Progress{}
	var total int64
	for _, e := range events {
		assert.Equal(t, s.Ref("app:v1"), e.Ref, "event %v: Ref", e.Event)
		if e.Event == EventUploaded {
			uploaded[e.Digest] = e
		}
		assert.LessOrEqual(t, e.Done, e.Total, "event %v: done of total", e.Event)
		assert.LessOrEqual(t, e.OverallDone, e.OverallTotal, "event %v: overall done of total", e.Event)
		total = e.OverallTotal
	}
	layers, err := img.Layers()
	require.NoError(t, err)
	var want int64
	for _, l := range layers {
		h := digest(t, l)
		sz, err := l.Size()
		require.NoError(t, err)
		want += sz
		e, ok := uploaded[h]
		if assert.True(t, ok, "no upload event for layer %s", h) {
			assert.Equal(t, sz, e.Done, "layer %s: Done", h)
			assert.Equal(t, sz, e.Total, "layer %s: Total", h)
		}
	}
	cfg, err := img.RawConfigFile()
	require.NoError(t, err)
	want += int64(len(cfg))
	assert.Equal(t, want, total, "OverallTotal")
	last := events[len(events)-1]
	assert.Equal(t, EventManifest, last.Event, "last event")
	assert.Equal(t, want, last.OverallDone, "last event: OverallDone")
	assert.Equal(t, digest(t, img), last.Digest, "last event: Digest")
	assert.Contains(t, EventMounted.String(), "mounted")
}

// TestPullNormalizedPlatform: a platform the index writes another way
// is found, as containerd finds it (linux/arm64/v8 is the linux/arm64 of
// distroless-style indexes, aarch64 is arm64).
func TestPullNormalizedPlatform(t *testing.T) {
	s := registrytest.New(t)
	ref, byPlatform, _ := seedPlatforms(t, s, "linux/amd64", "linux/arm64")
	for _, p := range []string{"linux/arm64/v8", "linux/aarch64"} {
		img, err := Pull(ctxT(t), ref, WithPlatform(p))
		require.NoError(t, err, "Pull(multi, %s)", p)
		assert.Equal(t, byPlatform["linux/arm64"], digest(t, img), "Pull(multi, %s)", p)
	}
}

// seedPlatforms seeds s with an index multi:latest of platforms and
// returns its reference and the digests of its images by platform.
func seedPlatforms(t *testing.T, s *registrytest.Server, platforms ...string) (string, map[string]v1.Hash, v1.ImageIndex) {
	t.Helper()
	idx, err := s.SeedIndex(ctxT(t), "multi:latest", platforms...)
	require.NoError(t, err)
	im, err := idx.IndexManifest()
	require.NoError(t, err)
	byPlatform := map[string]v1.Hash{}
	for _, m := range im.Manifests {
		byPlatform[m.Platform.String()] = m.Digest
	}
	require.Len(t, byPlatform, len(platforms), "the seeded index's platforms")
	return s.Ref("multi:latest"), byPlatform, idx
}

func TestIndexPlatforms(t *testing.T) {
	s := registrytest.New(t)
	ctx := ctxT(t)
	ref, byPlatform, idx := seedPlatforms(t, s, "linux/amd64", "linux/arm64/v8")
	for _, tc := range []struct {
		platform string
		want     v1.Hash
	}{
		{"", byPlatform["linux/amd64"]},
		{"linux/amd64", byPlatform["linux/amd64"]},
		{"linux/arm64", byPlatform["linux/arm64/v8"]},
		{"linux/arm64/v8", byPlatform["linux/arm64/v8"]},
	} {
		var opts []Option
		if tc.platform != "" {
			opts = append(opts, WithPlatform(tc.platform))
		}
		img, err := Pull(ctx, ref, opts...)
		require.NoError(t, err, "Pull(%s, %q)", ref, tc.platform)
		assert.Equal(t, tc.want, digest(t, img), "Pull(%s, %q)", ref, tc.platform)
		validImage(t, img)
	}

	_, err := Pull(ctx, ref, WithPlatform("linux/s390x"))
	require.ErrorIs(t, err, ErrPlatformNotFound, "Pull(%s, linux/s390x)", ref)
	for _, want := range []string{"linux/s390x", "linux/amd64", "linux/arm64/v8", ref} {
		assert.Contains(t, err.Error(), want, "Pull(%s, linux/s390x)", ref)
	}

	pulled, err := PullIndex(ctx, ref)
	require.NoError(t, err)
	require.NoError(t, validate.Index(pulled), "validate.Index")
	assertReference(t, pulled, ref, "PullIndex("+ref+")")
	s.ResetStats()
	mounted := 0
	d, err := PushIndex(ctx, s.Ref("copy:latest"), pulled, WithProgress(func(p Progress) {
		if p.Event == EventMounted {
			mounted++
		}
	}))
	require.NoError(t, err, "PushIndex")
	assert.Equal(t, 6, mounted, "PushIndex of a pulled index: mounted events (2 images of 2 layers and a config)")
	assert.Equal(t, digest(t, idx).String(), d.DigestStr(), "PushIndex digest")
	st := s.Stats()
	assert.Zero(t, st.BlobGETs, "copying an index inside a registry: BlobGETs")
	assert.Zero(t, st.BlobUploads, "copying an index inside a registry: BlobUploads")
	assert.Equal(t, 6, st.Mounts, "copying an index inside a registry: Mounts")
	_, err = PullIndex(ctx, s.Ref("copy:latest"))
	require.NoError(t, err)
	_, err = s.SeedImage(ctx, "single:latest")
	require.NoError(t, err)
	_, err = PullIndex(ctx, s.Ref("single:latest"))
	assert.ErrorIs(t, err, ErrNotIndex, "PullIndex(single image)")
}

// openCounter counts how often a layer's compressed bytes are opened.
type openCounter struct {
	v1.Layer
	mu sync.Mutex
	n  int
}

func (l *openCounter) Compressed() (io.ReadCloser, error) {
	l.mu.Lock()
	l.n++
	l.mu.Unlock()
	return l.Layer.Compressed()
}

func TestEachBlobReadOnce(t *testing.T) {
	s := registrytest.New(t)
	ctx := ctxT(t)
	img := randomImage(t, 0, 0)
	var counters []*openCounter
	for range 6 {
		l, err := random.Layer(30_000, types.OCILayer)
		require.NoError(t, err)
		c := &openCounter{Layer: l}
		counters = append(counters, c)
		img, err = mutate.AppendLayers(img, c)
		require.NoError(t, err)
	}
	for _, opts := range [][]Option{nil, {WithProgress(func(Progress) {}), WithJobs(3)}} {
		for _, c := range counters {
			c.n = 0
		}
		repo := fmt.Sprintf("app%d:v1", len(opts))
		_, err := Push(ctx, s.Ref(repo), img, opts...)
		require.NoError(t, err)
		for i, c := range counters {
			assert.Equal(t, 1, c.n, "push to %s: reads of layer %d", repo, i)
		}
	}
}
