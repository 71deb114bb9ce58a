package gobin

import (
	"crypto/rand"
	"crypto/sha256"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// BenchmarkDetector streams 250 MB of files through a Detector in 32 KB
// writes (what io.Copy does in the layer pipeline), once of files that are
// not executables, once of Go executables (the go command, repeated), and
// compares with SHA-256 over the same bytes, which the pipeline computes
// anyway: the detector's ns/op against sha256's is its overhead.
func BenchmarkDetector(b *testing.B) {
	const total = 250 << 20
	goBin, err := os.ReadFile(toolchainBinaries(b)[0])
	require.NoError(b, err)
	notGo := make([]byte, 4<<20)
	_, _ = rand.Read(notGo)
	for _, bc := range []struct {
		name string
		file []byte
	}{{"not-go", notGo}, {"go", goBin}} {
		files := total / len(bc.file)
		size := int64(files * len(bc.file))
		b.Run(bc.name+"/sha256", func(b *testing.B) {
			b.SetBytes(size)
			for b.Loop() {
				for range files {
					h := sha256.New()
					for p := bc.file; len(p) > 0; {
						k := min(len(p), 32<<10)
						h.Write(p[:k])
						p = p[k:]
					}
				}
			}
		})
		b.Run(bc.name+"/detector", func(b *testing.B) {
			b.SetBytes(size)
			var d Detector
			found := 0
			for b.Loop() {
				for range files {
					d.Reset()
					for p := bc.file; len(p) > 0; {
						k := min(len(p), 32<<10)
						_, _ = d.Write(p[:k])
						p = p[k:]
					}
					if _, ok := d.Result(); ok {
						found++
					}
				}
			}
			require.Equal(b, bc.name == "go", found > 0)
			b.ReportMetric(float64(files), "files/op")
		})
	}
}
