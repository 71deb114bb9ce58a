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
		if err != nil {
			t.Fatalf("push %d: %v", i, err)
		}
		if i == 0 {
			want = d.DigestStr()
		} else if d.DigestStr() != want {
			t.Fatalf("push %d: digest %s, want %s (the first push's)", i, d.DigestStr(), want)
		}
	}
	st := s.Stats()
	if st.Faults == 0 {
		t.Fatalf("no fault was injected: the test proves nothing")
	}
	t.Logf("%d pushes, all %s, through %d injected faults (%d requests) in %v",
		pushes, want, st.Faults, total(st.Requests), time.Since(start).Round(time.Millisecond))
	pulled, err := registry.Pull(context.Background(), s.Ref("faults0:v1"), registry.WithRetries(20))
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(pulled, validate.Fast); err != nil {
		t.Fatalf("validate.Image(pulled) = %v", err)
	}
	layers, err := pulled.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatalf("layer %d: %v", i, err)
		}
		h, n, err := hashReader(rc)
		rc.Close()
		d, _ := l.Digest()
		if sz, _ := l.Size(); err != nil || h != d.Hex || n != sz {
			t.Errorf("layer %d read back: sha256 %s, %d bytes, %v; want %s, %d bytes", i, h, n, err, d.Hex, sz)
		}
	}
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
