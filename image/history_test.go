package image

import (
	"errors"
	"github.com/stevedore-dev/stevedore/internal/mediatype"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWithHistory(t *testing.T) {
	base := configuredBase(t, mediatype.OCI)
	created := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	l1, l2 := randomLayer(t, 1, types.OCILayer), randomLayer(t, 2, types.OCILayer)
	img := mustBuild(t, base,
		WithLayers(l1, l2),
		WithEnv("A", "1"),
		WithConfigHistory(), // ignored: WithHistory says everything
		WithCreated(created),
		WithHistory(
			v1.History{CreatedBy: "ENV A=1", EmptyLayer: true, Comment: "buildkit.dockerfile.v0"},
			v1.History{CreatedBy: "COPY a /a # buildkit"},
		),
		WithHistory(
			v1.History{CreatedBy: "WORKDIR /src"},
			v1.History{CreatedBy: "CMD [\"x\"]", EmptyLayer: true, Created: v1.Time{Time: created.Add(time.Hour)}},
		),
	)
	h := configOf(t, img).History
	baseLen := len(configOf(t, base).History)
	require.Len(t, h, baseLen+4, "history of base + 4 entries")
	var got []string
	for _, e := range h[baseLen:] {
		got = append(got, e.CreatedBy)
	}
	assert.Equal(t, []string{"ENV A=1", "COPY a /a # buildkit", "WORKDIR /src", "CMD [\"x\"]"}, got, "created_by after the base's")
	assert.Equal(t, "buildkit.dockerfile.v0", h[baseLen].Comment, "comment kept")
	assert.True(t, h[baseLen].Created.Time.Equal(created), "zero Created becomes the image's")
	assert.True(t, h[baseLen+3].Created.Time.Equal(created.Add(time.Hour)), "a given Created is kept")
	assertHistoryAligned(t, img)
}

func TestWithHistoryCountMismatch(t *testing.T) {
	for _, tc := range []struct {
		name    string
		layers  int
		entries []v1.History
	}{
		{"too few", 2, []v1.History{{CreatedBy: "COPY"}, {CreatedBy: "ENV", EmptyLayer: true}}},
		{"too many", 0, []v1.History{{CreatedBy: "COPY"}}},
	} {
		var ls []v1.Layer
		for i := range tc.layers {
			ls = append(ls, randomLayer(t, int64(i), types.OCILayer))
		}
		_, err := Build(t.Context(), nil, WithLayers(ls...), WithHistory(tc.entries...))
		assert.ErrorIs(t, err, ErrInvalidOption, "Build with %s WithHistory entries", tc.name)
	}
	_, err := Build(t.Context(), nil, WithHistory())
	assert.ErrorIs(t, err, ErrInvalidOption, "WithHistory()")
}

func TestWithConfig(t *testing.T) {
	base := configuredBase(t, mediatype.Docker)
	img := mustBuild(t, base,
		WithEnv("BEFORE", "1"),
		WithConfig(func(cf *v1.ConfigFile) error {
			assert.Contains(t, cf.Config.Env, "BEFORE=1", "WithConfig sees earlier edits")
			cf.Author = "me@example.com"
			cf.Config.Healthcheck = &v1.HealthConfig{Test: []string{"CMD", "true"}, Retries: 3}
			cf.Config.Shell = []string{"/bin/bash", "-c"}
			cf.Config.OnBuild = []string{"COPY . /src"}
			cf.Config.ArgsEscaped = true
			cf.Architecture = "s390x"               // Build's: put back
			cf.RootFS = v1.RootFS{Type: "nonsense"} // Build's: put back
			cf.History = nil                        // Build's: put back
			return nil
		}),
		WithEnv("AFTER", "2"),
	)
	cf := configOf(t, img)
	assert.Equal(t, "me@example.com", cf.Author, "Author")
	assert.Equal(t, &v1.HealthConfig{Test: []string{"CMD", "true"}, Retries: 3}, cf.Config.Healthcheck, "Healthcheck")
	assert.Equal(t, []string{"/bin/bash", "-c"}, cf.Config.Shell, "Shell")
	assert.Equal(t, []string{"COPY . /src"}, cf.Config.OnBuild, "OnBuild")
	assert.True(t, cf.Config.ArgsEscaped, "ArgsEscaped")
	assert.Contains(t, cf.Config.Env, "AFTER=2", "later edits apply after WithConfig")
	assert.Equal(t, "arm64", cf.Architecture, "platform is Build's")
	assert.Equal(t, "layers", cf.RootFS.Type, "rootfs is Build's")
	assert.Len(t, cf.History, len(configOf(t, base).History), "history is Build's")

	boom := errors.New("boom")
	_, err := Build(t.Context(), nil, WithConfig(func(*v1.ConfigFile) error { return boom }))
	assert.ErrorIs(t, err, boom, "an error from the WithConfig function")
	_, err = Build(t.Context(), nil, WithConfig(nil))
	assert.ErrorIs(t, err, ErrInvalidOption, "WithConfig(nil)")
}

// TestWithConfigPutsBackInPlaceEdits: what Build owns is put back even
// when the function changes it in place rather than replacing it.
func TestWithConfigPutsBackInPlaceEdits(t *testing.T) {
	base := configuredBase(t, mediatype.OCI)
	want := configOf(t, base)
	require.NotEmpty(t, want.History, "base history")
	img := mustBuild(t, base, WithConfig(func(cf *v1.ConfigFile) error {
		for i := range cf.History {
			cf.History[i].CreatedBy = "rewritten"
		}
		return nil
	}))
	assert.Equal(t, want.History, configOf(t, img).History, "history after WithConfig edited its entries in place")
}
