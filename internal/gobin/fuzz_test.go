package gobin

import (
	"bytes"
	"debug/buildinfo"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzDetector feeds arbitrary bytes, cut into writes at arbitrary places:
// the detector must never panic, and must report build information only
// when debug/buildinfo reads the same from the whole file.
func FuzzDetector(f *testing.F) {
	goFile := syntheticELF("go1.26.8", modinfo("path\texample.com/x\nmod\texample.com/x\t(devel)\t\ndep\texample.com/y\tv1.0.0\th1:abc=\n"))
	f.Add(goFile, uint16(7))
	f.Add(goFile, uint16(1))
	f.Add(goFile[:len(goFile)/2], uint16(100))
	f.Add(syntheticELF("go1.22.0", ""), uint16(3))
	f.Add([]byte("\x7fELF\x01\x02\x01"), uint16(2))
	f.Add([]byte("not an executable"), uint16(5))
	var d Detector
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		got, ok := detect(&d, data, int(cut)+1, uint64(cut))
		if !ok {
			return
		}
		want, err := buildinfo.Read(bytes.NewReader(data))
		require.NoError(t, err, "Detect = %q, but debug/buildinfo.Read fails", got.String())
		require.Equal(t, want.String(), got.String(), "Detect, debug/buildinfo.Read")
	})
}
