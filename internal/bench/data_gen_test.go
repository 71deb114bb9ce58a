package bench

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGeneratorsDeterministic checks, on tiny inputs, that the data
// generators give the same bytes every time (the benchmarks' data is made
// by the same code at full size).
func TestGeneratorsDeterministic(t *testing.T) {
	fakeRoot := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(fakeRoot, "src", "fmt"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(fakeRoot, "VERSION"), []byte("go1.99\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(fakeRoot, "src", "fmt", "print.go"), []byte("package fmt\n"), 0o644))
	require.NoError(t, os.Symlink("VERSION", filepath.Join(fakeRoot, "V")))

	var gzs, tars, areas [][]byte
	for range 2 {
		out := t.TempDir()
		gz, tr := filepath.Join(out, "go.tar.gz"), filepath.Join(out, "go.tar")
		require.NoError(t, writeGoRelease(fakeRoot, gz, tr))
		for _, p := range []struct {
			path string
			into *[][]byte
		}{{gz, &gzs}, {tr, &tars}} {
			b, err := os.ReadFile(p.path)
			require.NoError(t, err)
			*p.into = append(*p.into, b)
		}
		require.NoError(t, writeArea(out, area{"svc/src", 5, 3 << 10, false}))
		require.NoError(t, writeArea(out, area{"svc/assets", 2, 3 << 10, true}))
		var all []byte
		require.NoError(t, walkFiles(filepath.Join(out, "svc"), func(fi os.FileInfo) {
			all = append(all, fi.Name()...)
		}))
		for _, rel := range []string{"svc/src/d000/f0000.go", "svc/src/d000/f0004.go", "svc/assets/d000/f0001.bin"} {
			b, err := os.ReadFile(filepath.Join(out, rel))
			require.NoError(t, err)
			all = append(all, b...)
		}
		areas = append(areas, all)
	}
	for _, c := range []struct {
		name string
		got  [][]byte
	}{{"writeGoRelease .tar.gz", gzs}, {"writeGoRelease .tar", tars}, {"writeArea", areas}} {
		assert.NotEmpty(t, c.got[0], "%s: bytes of the first run", c.name)
		assert.True(t, bytes.Equal(c.got[0], c.got[1]), "%s: two runs gave %d and %d bytes that differ, want the same bytes", c.name, len(c.got[0]), len(c.got[1]))
	}
	for _, name := range []string{"go/src/fmt/print.go", "go/VERSION"} {
		assert.True(t, bytes.Contains(tars[0], []byte(name)), "writeGoRelease tar lacks %s", name)
	}
}
