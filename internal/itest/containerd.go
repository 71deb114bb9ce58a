package itest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/containerd/v2/pkg/archive"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ApplyLayers applies the layers of img, in order, to a new directory with
// containerd's archive.Apply (what containerd's snapshotters do to unpack
// an image), and returns the directory. Ownership is applied when the
// test runs as root.
func ApplyLayers(t testing.TB, img v1.Image) string {
	t.Helper()
	root, err := ApplyLayersErr(t, img)
	if err != nil {
		t.Fatalf("containerd archive.Apply: %v", err)
	}
	return root
}

// ApplyLayersErr is [ApplyLayers] that returns the failure.
func ApplyLayersErr(t testing.TB, img v1.Image) (string, error) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "rootfs")
	if err := os.Mkdir(root, 0o755); err != nil {
		return "", err
	}
	layers, err := img.Layers()
	if err != nil {
		return "", err
	}
	var opts []archive.ApplyOpt
	if os.Geteuid() != 0 {
		opts = append(opts, archive.WithNoSameOwner())
	}
	for i, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return "", fmt.Errorf("layer %d: %w", i, err)
		}
		_, err = archive.Apply(context.Background(), root, rc, opts...)
		rc.Close()
		if err != nil {
			return "", fmt.Errorf("layer %d: %w", i, err)
		}
	}
	return root, nil
}
