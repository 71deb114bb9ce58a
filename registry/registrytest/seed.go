package registrytest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// seedHeader marks the server's own seeding requests, which skip faults,
// authentication and counters.
const seedHeader = "X-Registrytest-Seed"

var seedNonce = func() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}()

type seedTransport struct{ inner http.RoundTripper }

func (t seedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(seedHeader, seedNonce)
	return t.inner.RoundTrip(r)
}

// Seeding defaults: 2 layers of 4 KiB.
const (
	seedLayers    = 2
	seedLayerSize = 4096
)

// SeedImage pushes a random image (two layers of random bytes, OCI media
// types, platform linux/amd64) to repoAndTag on the server, bypassing
// faults, authentication and counters, and returns it.
func (s *Server) SeedImage(ctx context.Context, repoAndTag string) (v1.Image, error) {
	img, err := randomImage(v1.Platform{OS: "linux", Architecture: "amd64"})
	if err != nil {
		return nil, err
	}
	if err := s.seed(ctx, repoAndTag, img); err != nil {
		return nil, err
	}
	return img, nil
}

// SeedIndex pushes a random multi-platform OCI index to repoAndTag on the
// server, one random image per platform ("linux/amd64", "linux/arm64/v8",
// ...; linux/amd64 and linux/arm64 when none are given), bypassing faults,
// authentication and counters, and returns it.
func (s *Server) SeedIndex(ctx context.Context, repoAndTag string, platforms ...string) (v1.ImageIndex, error) {
	if len(platforms) == 0 {
		platforms = []string{"linux/amd64", "linux/arm64"}
	}
	var idx v1.ImageIndex = mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, ps := range platforms {
		p, err := v1.ParsePlatform(ps)
		if err != nil {
			return nil, fmt.Errorf("registrytest: platform %q: %w", ps, err)
		}
		img, err := randomImage(*p)
		if err != nil {
			return nil, err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: p},
		})
	}
	if err := s.seed(ctx, repoAndTag, idx); err != nil {
		return nil, err
	}
	return idx, nil
}

func (s *Server) seed(ctx context.Context, repoAndTag string, t remote.Taggable) error {
	ref, err := name.ParseReference(s.Ref(repoAndTag))
	if err != nil {
		return fmt.Errorf("registrytest: seeding %q: %w", repoAndTag, err)
	}
	tr := s.Transport()
	defer tr.CloseIdleConnections()
	if err := remote.Push(ref, t, remote.WithContext(ctx), remote.WithTransport(seedTransport{tr})); err != nil {
		return fmt.Errorf("registrytest: seeding %s: %w", ref, err)
	}
	return nil
}

func randomImage(p v1.Platform) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	for range seedLayers {
		l, err := random.Layer(seedLayerSize, types.OCILayer)
		if err != nil {
			return nil, fmt.Errorf("registrytest: random layer: %w", err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			return nil, fmt.Errorf("registrytest: random image: %w", err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("registrytest: random image config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("registrytest: random image config: %w", err)
	}
	return img, nil
}
