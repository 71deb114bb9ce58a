package registry

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

func TestPushPullRoundTrip(t *testing.T) {
	s := registrytest.New(t)
	ctx := ctxT(t)
	img := randomImage(t, 3, 2048)
	ref := s.Ref("app:v1")
	d, err := Push(ctx, ref, img)
	if err != nil {
		t.Fatalf("Push(%s) = %v", ref, err)
	}
	if want := digest(t, img); d.DigestStr() != want.String() {
		t.Errorf("Push(%s) = %s, want digest %s", ref, d, want)
	}
	if got := s.Stats().BlobUploads; got != 4 {
		t.Errorf("BlobUploads after first push = %d, want 4 (3 layers + config)", got)
	}
	pulled, err := Pull(ctx, ref)
	if err != nil {
		t.Fatalf("Pull(%s) = %v", ref, err)
	}
	if got, want := digest(t, pulled), digest(t, img); got != want {
		t.Errorf("Pull(%s) digest = %s, want %s", ref, got, want)
	}
	validImage(t, pulled)
	r, ok := pulled.(interface{ Reference() name.Reference })
	if !ok {
		t.Fatalf("Pull(%s) = %T, which has no Reference method", ref, pulled)
	}
	if got := r.Reference().String(); got != ref {
		t.Errorf("Pull(%s).Reference() = %s, want %s", ref, got, ref)
	}
	// By digest too.
	byDigest, err := Pull(ctx, d.String())
	if err != nil {
		t.Fatalf("Pull(%s) = %v", d, err)
	}
	if got := digest(t, byDigest); got.String() != d.DigestStr() {
		t.Errorf("Pull(%s) digest = %s", d, got)
	}
}

func TestRepushUploadsNothing(t *testing.T) {
	s := registrytest.New(t)
	ctx := ctxT(t)
	img := randomImage(t, 3, 1024)
	if _, err := Push(ctx, s.Ref("app:v1"), img); err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{"v1", "v2"} { // same tag, and a new tag in the same repository
		s.ResetStats()
		var events []Progress
		ref := s.Ref("app:" + tag)
		if _, err := Push(ctx, ref, img, WithProgress(func(p Progress) { events = append(events, p) })); err != nil {
			t.Fatal(err)
		}
		st := s.Stats()
		if st.BlobUploads != 0 || st.Requests["PATCH upload"] != 0 || st.Requests["POST upload"] != 0 {
			t.Errorf("re-push %s: BlobUploads = %d, upload requests = %v, want none", ref, st.BlobUploads, st.Requests)
		}
		last := events[len(events)-1]
		switch tag {
		case "v1":
			if st.ManifestPUTs != 0 || last.Event != EventManifestExists {
				t.Errorf("re-push %s: ManifestPUTs = %d, last event %v, want 0 and %v", ref, st.ManifestPUTs, last.Event, EventManifestExists)
			}
		case "v2":
			skipped := 0
			for _, e := range events {
				if e.Event == EventSkipped {
					skipped++
				}
			}
			if skipped != 4 || st.ManifestPUTs != 1 || last.Event != EventManifest {
				t.Errorf("push %s: %d skipped events, ManifestPUTs = %d, last event %v; want 4, 1, %v", ref, skipped, st.ManifestPUTs, last.Event, EventManifest)
			}
		}
	}
}

// appendRandom appends one random layer to base, the way image.Build would.
func appendRandom(t *testing.T, base v1.Image) v1.Image {
	t.Helper()
	l, err := random.Layer(1500, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(base, l)
	if err != nil {
		t.Fatal(err)
	}
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
			if _, err := s.SeedImage(ctx, "base:latest"); err != nil {
				t.Fatal(err)
			}
			base, err := Pull(ctx, s.Ref("base:latest"))
			if err != nil {
				t.Fatal(err)
			}
			img := appendRandom(t, base)
			s.ResetStats()
			d, err := Push(ctx, s.Ref(tc.dst), img)
			if err != nil {
				t.Fatalf("Push(%s) = %v", tc.dst, err)
			}
			st := s.Stats()
			if st.BlobGETs != tc.wantBlobGETs || st.Mounts != tc.wantMounts || st.BlobUploads != tc.wantUploads {
				t.Errorf("Push(%s): BlobGETs, Mounts, BlobUploads = %d, %d, %d; want %d, %d, %d",
					tc.dst, st.BlobGETs, st.Mounts, st.BlobUploads, tc.wantBlobGETs, tc.wantMounts, tc.wantUploads)
			}
			baseLayers, _ := base.Layers()
			for _, l := range baseLayers {
				if n := st.Downloads[digest(t, l)]; n != 0 && len(tc.faults) == 0 {
					t.Errorf("Push(%s) downloaded base layer %s %d times, want 0", tc.dst, digest(t, l), n)
				}
			}
			got, err := Pull(ctx, d.String())
			if err != nil {
				t.Fatal(err)
			}
			validImage(t, got)
			if st.MountsRefused > 0 != (len(tc.faults) > 0) {
				t.Errorf("MountsRefused = %d", st.MountsRefused)
			}
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
	if err != nil {
		t.Fatal(err)
	}
	uploaded := map[v1.Hash]Progress{}
	var total int64
	for _, e := range events {
		if e.Ref != s.Ref("app:v1") {
			t.Errorf("event %v has Ref %q", e.Event, e.Ref)
		}
		if e.Event == EventUploaded {
			uploaded[e.Digest] = e
		}
		if e.Done > e.Total || e.OverallDone > e.OverallTotal {
			t.Errorf("event %v: done %d/%d overall %d/%d", e.Event, e.Done, e.Total, e.OverallDone, e.OverallTotal)
		}
		total = e.OverallTotal
	}
	layers, _ := img.Layers()
	var want int64
	for _, l := range layers {
		h := digest(t, l)
		sz, _ := l.Size()
		want += sz
		if e, ok := uploaded[h]; !ok || e.Done != sz || e.Total != sz {
			t.Errorf("no complete upload event for layer %s: %+v", h, e)
		}
	}
	cfg, _ := img.RawConfigFile()
	want += int64(len(cfg))
	if total != want {
		t.Errorf("OverallTotal = %d, want %d", total, want)
	}
	last := events[len(events)-1]
	if last.Event != EventManifest || last.OverallDone != want || last.Digest != digest(t, img) {
		t.Errorf("last event = %+v, want manifest pushed with all %d bytes done", last, want)
	}
	if !strings.Contains(EventMounted.String(), "mounted") {
		t.Errorf("EventMounted.String() = %q", EventMounted)
	}
}

func TestIndexPlatforms(t *testing.T) {
	s := registrytest.New(t)
	ctx := ctxT(t)
	idx, err := s.SeedIndex(ctx, "multi:latest", "linux/amd64", "linux/arm64/v8")
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	byPlatform := map[string]v1.Hash{}
	for _, m := range im.Manifests {
		byPlatform[m.Platform.String()] = m.Digest
	}
	ref := s.Ref("multi:latest")
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
		if err != nil {
			t.Fatalf("Pull(%s, %q) = %v", ref, tc.platform, err)
		}
		if got := digest(t, img); got != tc.want {
			t.Errorf("Pull(%s, %q) = %s, want %s", ref, tc.platform, got, tc.want)
		}
		validImage(t, img)
	}

	_, err = Pull(ctx, ref, WithPlatform("linux/s390x"))
	if !errors.Is(err, ErrPlatformNotFound) {
		t.Fatalf("Pull(%s, linux/s390x) = %v, want ErrPlatformNotFound", ref, err)
	}
	for _, want := range []string{"linux/s390x", "linux/amd64", "linux/arm64/v8", ref} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Pull(%s, linux/s390x) error %q does not mention %q", ref, err, want)
		}
	}

	pulled, err := PullIndex(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(pulled); err != nil {
		t.Fatalf("validate.Index: %v", err)
	}
	if r := pulled.(interface{ Reference() name.Reference }).Reference().String(); r != ref {
		t.Errorf("PullIndex(%s).Reference() = %s", ref, r)
	}
	s.ResetStats()
	mounted := 0
	d, err := PushIndex(ctx, s.Ref("copy:latest"), pulled, WithProgress(func(p Progress) {
		if p.Event == EventMounted {
			mounted++
		}
	}))
	if err != nil {
		t.Fatalf("PushIndex = %v", err)
	}
	if mounted != 6 {
		t.Errorf("PushIndex of a pulled index: %d mounted events, want 6 (2 images of 2 layers and a config)", mounted)
	}
	if d.DigestStr() != digest(t, idx).String() {
		t.Errorf("PushIndex digest = %s, want %s", d.DigestStr(), digest(t, idx))
	}
	if st := s.Stats(); st.BlobGETs != 0 || st.BlobUploads != 0 || st.Mounts != 6 {
		t.Errorf("copying an index inside a registry: BlobGETs, BlobUploads, Mounts = %d, %d, %d; want 0, 0, 6", st.BlobGETs, st.BlobUploads, st.Mounts)
	}
	if _, err := PullIndex(ctx, s.Ref("copy:latest")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SeedImage(ctx, "single:latest"); err != nil {
		t.Fatal(err)
	}
	if _, err := PullIndex(ctx, s.Ref("single:latest")); !errors.Is(err, ErrNotIndex) {
		t.Errorf("PullIndex(single image) = %v, want ErrNotIndex", err)
	}
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
		if err != nil {
			t.Fatal(err)
		}
		c := &openCounter{Layer: l}
		counters = append(counters, c)
		if img, err = mutate.AppendLayers(img, c); err != nil {
			t.Fatal(err)
		}
	}
	for _, opts := range [][]Option{nil, {WithProgress(func(Progress) {}), WithJobs(3)}} {
		for _, c := range counters {
			c.n = 0
		}
		repo := fmt.Sprintf("app%d:v1", len(opts))
		if _, err := Push(ctx, s.Ref(repo), img, opts...); err != nil {
			t.Fatal(err)
		}
		for i, c := range counters {
			if c.n != 1 {
				t.Errorf("push to %s read layer %d %d times, want 1", repo, i, c.n)
			}
		}
	}
}
