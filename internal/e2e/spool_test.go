package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/internal/itest"
	"github.com/stevedore-dev/stevedore/internal/tartest"
	"github.com/stevedore-dev/stevedore/layer"
)

// spoolChildEnv, set to a directory of inputs, makes the test binary run
// spoolChild instead of the tests.
const spoolChildEnv = "STEVEDORE_E2E_SPOOL_CHILD"

// spoolChild builds layers from the inputs, reads them, builds an image,
// and exits without any clean-up of its own: no Close, no deferred
// removal, no GC.
func spoolChild() int {
	in := os.Getenv(spoolChildEnv)
	ctx := context.Background()
	dl, err := layer.FromDir(filepath.Join(in, "tree"), layer.WithRoot("/srv"))
	if err != nil {
		return childFail("FromDir: %v", err)
	}
	tl, err := layer.FromTarball(filepath.Join(in, "in.tar"), layer.WithRoot("/opt"), layer.WithCompression(layer.Zstd))
	if err != nil {
		return childFail("FromTarball: %v", err)
	}
	fl, err := layer.FromFiles([]layer.File{{Path: "/etc/app.conf", Data: []byte("x=1\n")}})
	if err != nil {
		return childFail("FromFiles: %v", err)
	}
	img, err := image.Build(ctx, nil, image.WithLayers(dl, tl, fl), image.WithWorkDir("/srv"))
	if err != nil {
		return childFail("Build: %v", err)
	}
	ls, err := img.Layers()
	if err != nil {
		return childFail("Layers: %v", err)
	}
	for _, l := range ls {
		for _, open := range []func() (io.ReadCloser, error){l.Compressed, l.Uncompressed} {
			rc, err := open()
			if err != nil {
				return childFail("reading a layer: %v", err)
			}
			io.Copy(io.Discard, rc) // not closed, on purpose
		}
	}
	d, _ := img.Digest()
	fmt.Println(d)
	os.Exit(0) // no clean-up
	return 0
}

func childFail(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	return 2
}

// TestNothingLeftAtExit (issue item 7): a program that builds layers and
// exits without any clean-up of its own leaves its TMPDIR empty.
func TestNothingLeftAtExit(t *testing.T) {
	in := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(in, "tree", "sub"), 0o755))
	big := make([]byte, 4<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	require.NoError(t, os.WriteFile(filepath.Join(in, "tree", "sub", "big"), big, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(in, "in.tar"), tarOf(t,
		tartest.File("bin/tool", string(big[:1<<20])).WithMode(0o755)), 0o644))
	tmp := t.TempDir()
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), spoolChildEnv+"="+in, "TMPDIR="+tmp)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "the child: %s", out)
	assert.Contains(t, string(out), "sha256:", "the child printed the image digest")
	assert.Empty(t, itest.DirNames(t, tmp), "TMPDIR after the child exited")
}
