package bench

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/itest"
	"github.com/stevedore-dev/stevedore/internal/tartest"
)

// dataVersion names the generator; change it whenever generated data
// changes, so stale data is regenerated.
const dataVersion = "bench-data/v1"

// dataEpoch is the mtime of every generated tar entry and file.
var dataEpoch = time.Unix(1_700_000_000, 0).UTC()

// dataRoot is where generated data lives.
var dataRoot = sync.OnceValue(itest.BenchData)

var (
	genMu   sync.Mutex
	genDone = map[string]bool{}
)

// generated returns dataRoot()/name, calling gen(tmp) to make it first
// unless a stamp says it is there and was made by this generator from the
// same Go installation. gen writes into tmp, which is renamed to name.
func generated(tb testing.TB, name string, gen func(tmp string) error) string {
	tb.Helper()
	genMu.Lock()
	defer genMu.Unlock()
	dst := filepath.Join(dataRoot(), name)
	stamp := dst + ".stamp"
	want := dataVersion + " " + runtime.Version() + " " + goroot(tb) + "\n"
	if genDone[name] {
		return dst
	}
	if b, err := os.ReadFile(stamp); err == nil && string(b) == want {
		if _, err := os.Stat(dst); err == nil {
			genDone[name] = true
			return dst
		}
	}
	require.NoError(tb, os.MkdirAll(dataRoot(), 0o755))
	start := time.Now()
	tmp := dst + ".tmp"
	os.RemoveAll(tmp)
	os.RemoveAll(dst)
	os.Remove(stamp)
	if err := gen(tmp); err != nil {
		os.RemoveAll(tmp)
		tb.Fatalf("generating %s: %v", dst, err)
	}
	require.NoError(tb, os.Rename(tmp, dst))
	require.NoError(tb, os.WriteFile(stamp, []byte(want), 0o644))
	tb.Logf("generated %s in %s", dst, time.Since(start).Round(time.Millisecond))
	genDone[name] = true
	return dst
}

var gorootOnce = sync.OnceValues(func() (string, error) {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOROOT: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
})

func goroot(tb testing.TB) string {
	tb.Helper()
	d, err := gorootOnce()
	require.NoError(tb, err)
	return d
}

// goRelease is the Go release-shaped test data: the local GOROOT as
// go/... entries, gzip-compressed (Gz) and plain (Tar).
type goRelease struct {
	Gz, Tar string
	TarSize int64
}

// goReleaseData makes (once) a tarball shaped like go.dev/dl's release
// tarballs from the local GOROOT: entries go/..., sorted, root-owned,
// fixed mtimes, gzip (compress/gzip default level, as release tarballs are
// compressed well). It also keeps the uncompressed tar for the raw
// compression benchmark.
func goReleaseData(tb testing.TB) goRelease {
	dir := generated(tb, "go-release", func(tmp string) error {
		if err := os.MkdirAll(tmp, 0o755); err != nil {
			return err
		}
		return writeGoRelease(goroot(tb), filepath.Join(tmp, "go.linux-amd64.tar.gz"), filepath.Join(tmp, "go.linux-amd64.tar"))
	})
	r := goRelease{Gz: filepath.Join(dir, "go.linux-amd64.tar.gz"), Tar: filepath.Join(dir, "go.linux-amd64.tar")}
	fi, err := os.Stat(r.Tar)
	require.NoError(tb, err)
	r.TarSize = fi.Size()
	return r
}

func writeGoRelease(root, gzPath, tarPath string) error {
	gzf, err := os.Create(gzPath)
	if err != nil {
		return err
	}
	defer gzf.Close()
	tf, err := os.Create(tarPath)
	if err != nil {
		return err
	}
	defer tf.Close()
	bgz := bufio.NewWriterSize(gzf, 1<<20)
	zw, err := gzip.NewWriterLevel(bgz, gzip.DefaultCompression)
	if err != nil {
		return err
	}
	btf := bufio.NewWriterSize(tf, 1<<20)
	tw := tar.NewWriter(io.MultiWriter(zw, btf))
	err = tartest.WriteTree(tw, root, "go", dataEpoch, tar.FormatPAX)
	return errors.Join(err, tw.Close(), zw.Close(), bgz.Flush(), btf.Flush(), gzf.Close(), tf.Close())
}

// koTarballData makes (once) a tarball shaped like ko's release tarballs
// (LICENSE, README.md, ko at the top), with the local Go compiler binary
// standing in for ko (a Go binary of similar size, ~25 MB).
func koTarballData(tb testing.TB) string {
	dir := generated(tb, "ko-release", func(tmp string) error {
		if err := os.MkdirAll(tmp, 0o755); err != nil {
			return err
		}
		bin, err := os.ReadFile(filepath.Join(goroot(tb), "pkg", "tool", runtime.GOOS+"_"+runtime.GOARCH, "compile"))
		if err != nil {
			return err
		}
		lic, err := os.ReadFile(filepath.Join(goroot(tb), "LICENSE"))
		if err != nil {
			return err
		}
		f, err := os.Create(filepath.Join(tmp, "ko_Linux_x86_64.tar.gz"))
		if err != nil {
			return err
		}
		defer f.Close()
		zw, _ := gzip.NewWriterLevel(f, gzip.DefaultCompression)
		tw := tar.NewWriter(zw)
		for _, e := range []struct {
			name string
			mode int64
			data []byte
		}{
			{"LICENSE", 0o644, lic},
			{"README.md", 0o644, []byte("# ko (stand-in)\n\nA Go binary standing in for ko in stevedore's benchmarks.\n")},
			{"ko", 0o755, bin},
		} {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: e.name, Mode: e.mode,
				Size: int64(len(e.data)), ModTime: dataEpoch}); err != nil {
				return err
			}
			if _, err := tw.Write(e.data); err != nil {
				return err
			}
		}
		return errors.Join(tw.Close(), zw.Close(), f.Close())
	})
	return filepath.Join(dir, "ko_Linux_x86_64.tar.gz")
}

// appBinaryData builds (once) examples/goapp's hello program as a static
// linux/amd64 binary, as goapp would.
func appBinaryData(tb testing.TB) string {
	dir := generated(tb, "goapp", func(tmp string) error {
		if err := os.MkdirAll(tmp, 0o755); err != nil {
			return err
		}
		src, err := filepath.Abs(filepath.Join("..", "..", "examples", "goapp", "hello"))
		if err != nil {
			return err
		}
		cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(tmp, "hello"), ".")
		cmd.Dir = src
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build: %w: %s", err, out)
		}
		return nil
	})
	return filepath.Join(dir, "hello")
}

// Monorepo shapes. The payments service is the same in both: same paths,
// same contents (each file's bytes are seeded by its path).
const paymentsDir = "services/payments"

type area struct {
	dir    string
	files  int
	size   int // average file size in bytes
	binary bool
}

var (
	// payments: ~15 MB in 600 files.
	paymentsAreas = []area{
		{paymentsDir + "/src", 540, 22 << 10, false},
		{paymentsDir + "/assets", 60, 52 << 10, true},
	}
	// The rest of a big monorepo: ~285 MB in 11,400 files.
	bigAreas = func() []area {
		as := []area{
			{"libs", 2500, 20 << 10, false},
			{"web", 1500, 20 << 10, false},
			{"assets", 500, 130 << 10, true},
		}
		for i := 1; i <= 23; i++ {
			as = append(as, area{fmt.Sprintf("services/svc%02d", i), 300, 20 << 10, false})
		}
		return as
	}()
	// The rest of a small monorepo.
	smallAreas = []area{{"libs", 20, 4 << 10, false}}
)

// monorepoData makes (once) the small or the big monorepo and returns its
// root.
func monorepoData(tb testing.TB, big bool) string {
	name, areas := "monorepo-small", smallAreas
	if big {
		name, areas = "monorepo-big", bigAreas
	}
	return generated(tb, name, func(tmp string) error {
		for _, a := range append(append([]area{}, paymentsAreas...), areas...) {
			if err := writeArea(tmp, a); err != nil {
				return err
			}
		}
		return os.WriteFile(filepath.Join(tmp, "README.md"), []byte("# monorepo\n"), 0o644)
	})
}

// writeArea writes a.files files, 20 per directory, with sizes spread
// around a.size.
func writeArea(root string, a area) error {
	buf := make([]byte, 0, 4*a.size)
	for i := range a.files {
		rel := fmt.Sprintf("%s/d%03d/f%04d", a.dir, i/20, i)
		if a.binary {
			rel += ".bin"
		} else {
			rel += ".go"
		}
		rng := rand.New(rand.NewPCG(seedOf(rel), 0x5eed))
		size := a.size/2 + rng.IntN(a.size+1) // a.size on average
		buf = fill(buf[:0], rng, size, a.binary)
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			return err
		}
		if err := os.Chtimes(p, dataEpoch, dataEpoch); err != nil {
			return err
		}
	}
	return nil
}

func seedOf(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// words is the vocabulary of generated source-like text, which
// compresses about as well as Go source (3-4x with gzip -1).
var words = strings.Fields(`func return if else for range var const type struct interface map chan
go defer select case default switch package import err nil true false string int int64 byte
error context ctx fmt Errorf Println len cap make append copy new panic recover bool float64
:= = == != <= >= && || { } ( ) [ ] , ; . // payment amount currency account ledger balance
transaction invoice customer refund charge settle authorize capture webhook retry idempotency
key request response handler server client config logger metrics trace span database query row`)

// fill appends size bytes of source-like text (or random bytes) to buf.
func fill(buf []byte, rng *rand.Rand, size int, binary bool) []byte {
	if binary {
		for len(buf) < size {
			v := rng.Uint64()
			for j := 0; j < 8 && len(buf) < size; j++ {
				buf = append(buf, byte(v>>(8*j)))
			}
		}
		return buf
	}
	col := 0
	for len(buf) < size {
		w := words[rng.IntN(len(words))]
		buf = append(buf, w...)
		col += len(w) + 1
		if col > 60+rng.IntN(30) {
			buf = append(buf, '\n')
			col = 0
			for range rng.IntN(4) {
				buf = append(buf, '\t')
			}
		} else {
			buf = append(buf, ' ')
		}
	}
	return buf[:size]
}

// walkFiles calls f for every regular file under dir.
func walkFiles(dir string, f func(fs.FileInfo)) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		f(fi)
		return nil
	})
}
