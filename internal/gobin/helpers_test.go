package gobin

import (
	"bytes"
	"debug/buildinfo"
	"encoding/binary"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// detect feeds b to a Detector in writes of random sizes between 1 and
// maxWrite, seeded by seed.
func detect(d *Detector, b []byte, maxWrite int, seed uint64) (*debug.BuildInfo, bool) {
	d.Reset()
	r := rand.New(rand.NewPCG(seed, 1))
	for p := b; len(p) > 0; {
		k := min(len(p), 1+r.IntN(maxWrite))
		n, err := d.Write(p[:k])
		if n != k || err != nil {
			panic("Detector.Write must take every byte")
		}
		p = p[k:]
	}
	return d.Result()
}

// reference is what debug/buildinfo says of b, as a string ("" when it
// reports an error).
func reference(b []byte) string {
	bi, err := buildinfo.Read(bytes.NewReader(b))
	if err != nil {
		return ""
	}
	return bi.String()
}

func str(bi *debug.BuildInfo, ok bool) string {
	if !ok {
		return ""
	}
	return bi.String()
}

// toolchainBinaries lists the Go toolchain's own executables.
func toolchainBinaries(t testing.TB) []string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOROOT", "GOTOOLDIR").Output()
	require.NoError(t, err)
	lines := strings.Fields(string(out))
	require.Len(t, lines, 2)
	var files []string
	for _, g := range []string{filepath.Join(lines[0], "bin", "*"), filepath.Join(lines[1], "*")} {
		m, err := filepath.Glob(g)
		require.NoError(t, err)
		files = append(files, m...)
	}
	require.NotEmpty(t, files)
	return files
}

// syntheticELF is a minimal 64-bit little-endian ELF executable holding a
// Go build information blob in a .go.buildinfo section of a writable
// segment, as the Go linker lays it out: the fuzz test's seed.
func syntheticELF(version, modinfo string) []byte {
	const (
		ehsize, phsize, shsize = 64, 56, 64
		dataOff                = 0x100
		vaddr                  = 0x400100
	)
	blob := append([]byte(nil), magic...)
	blob = append(blob, 8, flagInline)
	blob = append(blob, make([]byte, blobHeaderSize-len(blob))...)
	blob = binary.AppendUvarint(blob, uint64(len(version)))
	blob = append(blob, version...)
	blob = binary.AppendUvarint(blob, uint64(len(modinfo)))
	blob = append(blob, modinfo...)
	for len(blob)%16 != 0 {
		blob = append(blob, 0)
	}
	strtab := []byte("\x00.go.buildinfo\x00.shstrtab\x00")
	strOff := dataOff + len(blob)
	shOff := (strOff + len(strtab) + 7) &^ 7

	le := binary.LittleEndian
	f := make([]byte, shOff+3*shsize)
	copy(f, "\x7fELF\x02\x01\x01")
	le.PutUint16(f[16:], 2)  // ET_EXEC
	le.PutUint16(f[18:], 62) // EM_X86_64
	le.PutUint32(f[20:], 1)
	le.PutUint64(f[24:], vaddr)
	le.PutUint64(f[32:], ehsize)
	le.PutUint64(f[40:], uint64(shOff))
	le.PutUint16(f[52:], ehsize)
	le.PutUint16(f[54:], phsize)
	le.PutUint16(f[56:], 1)
	le.PutUint16(f[58:], shsize)
	le.PutUint16(f[60:], 3)
	le.PutUint16(f[62:], 2)
	ph := f[ehsize:]
	le.PutUint32(ph[0:], 1) // PT_LOAD
	le.PutUint32(ph[4:], 6) // PF_R|PF_W
	le.PutUint64(ph[8:], dataOff)
	le.PutUint64(ph[16:], vaddr)
	le.PutUint64(ph[24:], vaddr)
	le.PutUint64(ph[32:], uint64(len(blob)))
	le.PutUint64(ph[40:], uint64(len(blob)))
	le.PutUint64(ph[48:], 0x1000)
	copy(f[dataOff:], blob)
	copy(f[strOff:], strtab)
	sh := f[shOff+shsize:] // section 1: .go.buildinfo
	le.PutUint32(sh[0:], 1)
	le.PutUint32(sh[4:], 1) // SHT_PROGBITS
	le.PutUint64(sh[8:], 3) // SHF_WRITE|SHF_ALLOC
	le.PutUint64(sh[16:], vaddr)
	le.PutUint64(sh[24:], dataOff)
	le.PutUint64(sh[32:], uint64(len(blob)))
	le.PutUint64(sh[48:], 16)
	sh = f[shOff+2*shsize:] // section 2: .shstrtab
	le.PutUint32(sh[0:], 15)
	le.PutUint32(sh[4:], 3) // SHT_STRTAB
	le.PutUint64(sh[24:], uint64(strOff))
	le.PutUint64(sh[32:], uint64(len(strtab)))
	le.PutUint64(sh[48:], 1)
	return f
}

// modinfo wraps a module listing in the sentinels cmd/go puts around it.
func modinfo(s string) string {
	const start, end = "0w\xaf\x0c\x92t\b\x02A\xe1\xc1\a\xe6\xd6\x18\xe6", "\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2"
	return start + s + end
}
