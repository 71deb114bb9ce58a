package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/registry"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

// TestBuildAndPushThroughFaults rebuilds an image with the library (a
// cached layer, a spooled zstd layer) from the same inputs and pushes it
// to a registry that fails 10% of requests with 503, resets 10% of
// connections and delays uploads, with the default retry settings: every
// push succeeds, every digest is the same, and what is stored reads back
// intact. STEVEDORE_FAULT_PUSHES sets the count (default 3; the registry
// package's TestPushThroughFaults takes the same variable).
func TestBuildAndPushThroughFaults(t *testing.T) {
	pushes := 3
	if v, err := strconv.Atoi(os.Getenv("STEVEDORE_FAULT_PUSHES")); err == nil && v > 0 {
		pushes = v
	}
	s := registrytest.New(t, registrytest.WithSeed(11), registrytest.WithFaults(
		registrytest.FailRate(0.10, http.StatusServiceUnavailable),
		registrytest.ResetRate(0.10),
		registrytest.Delay(2*time.Millisecond).On(registrytest.KindUpload),
	))
	src := cancelSource(5)
	spool := make([]byte, 64<<10)
	cacheDir := t.TempDir()
	start := time.Now()
	var want string
	for i := range pushes {
		ref := s.Ref(fmt.Sprintf("faults%d:v1", i))
		d, _, err := buildAndPush(context.Background(), src, cacheDir, spool, ref, &byteTrigger{}, registry.WithRetries(10))
		require.NoError(t, err, "push %d", i)
		if i == 0 {
			want = d.DigestStr()
		}
		require.Equal(t, want, d.DigestStr(), "push %d: digest, want the first push's", i)
	}
	st := s.Stats()
	require.NotZero(t, st.Faults, "faults injected: with none, the test proves nothing")
	t.Logf("%d pushes, all %s, through %d injected faults (%d requests) in %v",
		pushes, want, st.Faults, total(st.Requests), time.Since(start).Round(time.Millisecond))
	pulled, err := registry.Pull(context.Background(), s.Ref("faults0:v1"), registry.WithRetries(20))
	require.NoError(t, err)
	require.NoError(t, validate.Image(pulled, validate.Fast), "validate.Image(pulled)")
	layers, err := pulled.Layers()
	require.NoError(t, err)
	for i, l := range layers {
		rc, err := l.Compressed()
		require.NoError(t, err, "layer %d", i)
		h, n, err := hashReader(rc)
		rc.Close()
		require.NoError(t, err, "layer %d read back", i)
		d, err := l.Digest()
		require.NoError(t, err, "layer %d: Digest()", i)
		sz, err := l.Size()
		require.NoError(t, err, "layer %d: Size()", i)
		assert.Equal(t, d.Hex, h, "layer %d read back: sha256", i)
		assert.Equal(t, sz, n, "layer %d read back: bytes", i)
	}
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
