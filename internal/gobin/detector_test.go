package gobin

import (
	"bytes"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stevedore-dev/stevedore/internal/gobin/gobintest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDetectorBuiltPrograms builds a program with a dependency in the ways
// that change where its build information lies, and checks that the
// detector, fed in writes of random sizes, reads what debug/buildinfo reads
// from the file.
func TestDetectorBuiltPrograms(t *testing.T) {
	if testing.Short() {
		t.Skip("builds Go programs")
	}
	tests := []struct {
		name string
		env  []string
		args []string
		why  string
	}{
		{"default", nil, nil, "compressed DWARF sections (SHF_COMPRESSED), section table at the start"},
		{"stripped", nil, []string{"-ldflags=-s -w"}, "no symbols, no DWARF"},
		{"trimpath", nil, []string{"-trimpath", "-buildvcs=false"}, "what image builds use"},
		{"pie", nil, []string{"-buildmode=pie"}, "position-independent"},
		{"386", []string{"GOARCH=386", "CGO_ENABLED=0"}, nil, "32-bit ELF"},
		{"s390x", []string{"GOARCH=s390x", "CGO_ENABLED=0"}, nil, "big-endian ELF"},
		{"external", []string{"CGO_ENABLED=1"}, []string{"-ldflags=-linkmode=external"}, "linked by the C linker: section table at the end"},
	}
	var d Detector
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "external" {
				if _, err := exec.LookPath("gcc"); err != nil {
					t.Skip("needs gcc for external linking")
				}
			}
			b, err := os.ReadFile(gobintest.Build(t, tt.env, tt.args...))
			require.NoError(t, err)
			want := reference(b)
			require.NotEmpty(t, want, "debug/buildinfo reads the program built %s", tt.why)
			for i, maxWrite := range []int{1 << 20, 64 << 10, 4 << 10, 100} {
				got, ok := detect(&d, b, maxWrite, uint64(i))
				require.True(t, ok, "Detect(%s, writes<=%d) found no build info (%s)", tt.name, maxWrite, tt.why)
				assert.Equal(t, want, got.String(), "Detect(%s, writes<=%d)", tt.name, maxWrite)
				assert.Equal(t, gobintest.MainPath, got.Main.Path)
				require.Len(t, got.Deps, 1)
				assert.Equal(t, gobintest.DepPath, got.Deps[0].Path)
				assert.Equal(t, gobintest.DepVers, got.Deps[0].Version)
				assert.Equal(t, gobintest.DepSum, got.Deps[0].Sum)
				assert.Equal(t, runtime.Version(), got.GoVersion)
			}
		})
	}
}

// TestDetectorOneByteWrites cuts the blob at every byte.
func TestDetectorOneByteWrites(t *testing.T) {
	b := syntheticELF("go1.26.8", modinfo("path\texample.com/x\nmod\texample.com/x\t(devel)\t\n"))
	want := reference(b)
	require.NotEmpty(t, want)
	var d Detector
	got, ok := detect(&d, b, 1, 0)
	require.True(t, ok)
	assert.Equal(t, want, got.String())
	for cut := 1; cut < len(b); cut++ {
		d.Reset()
		_, _ = d.Write(b[:cut])
		_, _ = d.Write(b[cut:])
		assert.Equal(t, want, str(d.Result()), "Detect(cut at %d)", cut)
	}
}

// TestDetectorToolchain compares with debug/buildinfo on the Go
// toolchain's own executables.
func TestDetectorToolchain(t *testing.T) {
	var d Detector
	for i, f := range toolchainBinaries(t) {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		want := reference(b)
		require.NotEmpty(t, want, "%s is a Go executable", f)
		assert.Equal(t, want, str(detect(&d, b, 256<<10, uint64(i))), "Detect(%s)", f)
	}
}

// TestDetectorHostExecutables compares with debug/buildinfo on every file
// in the host's /usr/bin and /usr/sbin: Go programs built elsewhere (Debian
// links them with the C linker) and many that are not Go.
func TestDetectorHostExecutables(t *testing.T) {
	if testing.Short() {
		t.Skip("reads every file in /usr/bin")
	}
	var files []string
	for _, g := range []string{"/usr/bin/*", "/usr/sbin/*"} {
		m, _ := filepath.Glob(g)
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Skip("no /usr/bin")
	}
	var d Detector
	goFiles := 0
	for i, f := range files {
		if fi, err := os.Stat(f); err != nil || !fi.Mode().IsRegular() || fi.Size() > 512<<20 {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		want := reference(b)
		if want != "" {
			goFiles++
		}
		assert.Equal(t, want, str(detect(&d, b, 128<<10, uint64(i))), "Detect(%s)", f)
	}
	t.Logf("%d files, %d Go executables", len(files), goFiles)
}

// TestDetectorNotGo checks that files that are not Go executables are
// refused, most after their first bytes.
func TestDetectorNotGo(t *testing.T) {
	random := make([]byte, 1<<16)
	_, _ = rand.Read(random)
	elfOnly := append([]byte("\x7fELF\x02\x01\x01"), make([]byte, 200)...)
	synthetic := syntheticELF("go1.26.8", modinfo("path\tx\n"))
	tests := []struct {
		name     string
		data     []byte
		doneSoon bool // Done after the first write
		why      string
	}{
		{"empty", nil, false, "nothing written"},
		{"short", []byte("\x7fEL"), false, "shorter than the magic"},
		{"text", []byte("#!/bin/sh\necho hello\n"), true, "a script"},
		{"random", random, true, "random bytes"},
		{"gzip", append([]byte{0x1f, 0x8b}, random...), true, "compressed data"},
		{"elf header only", elfOnly, false, "ELF magic, no program headers"},
		{"truncated", synthetic[:len(synthetic)-70], false, "section table cut off"},
		{"pe", append([]byte("MZ"), random...), true, "Windows executables are not recognised"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d Detector
			if len(tt.data) > 0 {
				_, _ = d.Write(tt.data[:min(len(tt.data), 8)])
				assert.Equal(t, tt.doneSoon, d.Done(), "Done() after 8 bytes of %s (%s)", tt.name, tt.why)
				_, _ = d.Write(tt.data[min(len(tt.data), 8):])
			}
			_, ok := d.Result()
			assert.False(t, ok, "Detect(%s) found build info (%s)", tt.name, tt.why)
		})
	}
}

// TestDetectorReset checks that a Detector reused across files keeps no
// state from the previous one.
func TestDetectorReset(t *testing.T) {
	goFile := syntheticELF("go1.26.8", modinfo("path\texample.com/x\n"))
	var d Detector
	got, ok := detect(&d, goFile, 7, 1)
	require.True(t, ok)
	assert.Equal(t, "example.com/x", got.Path)
	_, ok = detect(&d, []byte("plain text"), 3, 2)
	assert.False(t, ok, "Detect(text) after a Go file")
	got, ok = detect(&d, goFile, 1000, 3)
	require.True(t, ok)
	assert.Equal(t, reference(goFile), got.String())
}

// TestDetectorMemory checks that a large non-Go file and a Go file keep
// little: the detector's retained bytes stay bounded.
func TestDetectorMemory(t *testing.T) {
	big := bytes.Repeat([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0}, 1<<20) // 8 MB of repeated ELF magic
	var d Detector
	_, ok := detect(&d, big, 1<<16, 4)
	assert.False(t, ok)
	assert.LessOrEqual(t, cap(d.prefix), 2*prefixSize, "prefix kept")
}
