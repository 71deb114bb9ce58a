package layer

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// genFS is an fs.FS holding one file, "big", of the given size whose
// content is generated on the fly (text-like, compressible about 3:1),
// never stored.
type genFS struct{ size int64 }

var genBlock = func() []byte {
	r := rand.New(rand.NewPCG(7, 7))
	words := []string{"package ", "func ", "return ", "err ", "nil", "\n\t", "if ", "{\n", "}\n", "layer", "(", ")", "// comment "}
	b := make([]byte, 0, 1<<20)
	for len(b) < 1<<20 {
		if r.IntN(8) == 0 {
			for range 8 {
				b = append(b, byte('a'+r.IntN(26)))
			}
		}
		b = append(b, words[r.IntN(len(words))]...)
	}
	return b[:1<<20]
}()

func (g genFS) Open(name string) (fs.File, error) {
	switch name {
	case ".":
		return &genDir{}, nil
	case "big":
		return &genFile{size: g.size}, nil
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

func (g genFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if name != "." {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
	}
	return []fs.DirEntry{fs.FileInfoToDirEntry(genInfo{g.size})}, nil
}

type genInfo struct{ size int64 }

func (i genInfo) Name() string       { return "big" }
func (i genInfo) Size() int64        { return i.size }
func (i genInfo) Mode() fs.FileMode  { return 0o644 }
func (i genInfo) ModTime() time.Time { return time.Time{} }
func (i genInfo) IsDir() bool        { return false }
func (i genInfo) Sys() any           { return nil }

type genFile struct {
	size, off int64
}

func (f *genFile) Stat() (fs.FileInfo, error) { return genInfo{f.size}, nil }
func (f *genFile) Close() error               { return nil }
func (f *genFile) Read(p []byte) (int, error) {
	if f.off >= f.size {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), f.size-f.off)]
	n := 0
	for n < len(p) {
		blk := f.off >> 20
		i := int(f.off & (1<<20 - 1))
		c := copy(p[n:], genBlock[i:])
		// Vary blocks so that they do not repeat exactly.
		p[n] ^= byte(blk)
		n += c
		f.off += int64(c)
	}
	return n, nil
}

type genDir struct{}

func (genDir) Stat() (fs.FileInfo, error) { return dirInfo{}, nil }
func (genDir) Close() error               { return nil }
func (genDir) Read([]byte) (int, error)   { return 0, errors.New("is a directory") }

type dirInfo struct{ genInfo }

func (dirInfo) Name() string      { return "." }
func (dirInfo) Mode() fs.FileMode { return fs.ModeDir | 0o755 }
func (dirInfo) IsDir() bool       { return true }

// peakHeap runs f and returns the peak growth of HeapInuse over the
// baseline before f, sampled every 5ms.
func peakHeap(f func()) (peak uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var mu sync.Mutex
	var max uint64
	sample := func() {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		mu.Lock()
		if m.HeapInuse > max {
			max = m.HeapInuse
		}
		mu.Unlock()
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				sample()
			}
		}
	}()
	f()
	sample()
	close(stop)
	<-done
	if max < base {
		return 0
	}
	return max - base
}

// TestMemoryFlat1GiB builds a 1 GiB layer and checks the heap grows by a
// few MiB at most: nothing is held in memory.
func TestMemoryFlat1GiB(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 1 GiB layer")
	}
	for _, c := range []Compression{Gzip, Zstd} {
		var l *layer
		start := time.Now()
		peak := peakHeap(func() {
			v, err := New(context.Background(), []Source{FS(genFS{1 << 30})}, WithCompression(c), WithTempDir(t.TempDir()))
			require.NoError(t, err)
			l = v.(*layer)
			_, err = l.Digest()
			require.NoError(t, err, "Digest()")
		})
		size, err := l.Size()
		require.NoError(t, err, "Size()")
		t.Logf("%v: 1 GiB layer (%d MB compressed) in %v, peak heap growth %.1f MiB", c, size>>20, time.Since(start).Round(time.Millisecond), float64(peak)/(1<<20))
		assert.LessOrEqual(t, peak>>20, uint64(32), "%v: MiB the heap grew by building a 1 GiB layer", c)
	}
}

// TestHugeFile: a file over 8 GiB (the ustar size field's limit) gets a
// header that records its real size (PAX or GNU base-256), and its bytes
// arrive. The file is sparse on disk.
func TestHugeFile(t *testing.T) {
	if os.Getenv("STEVEDORE_LONG_TESTS") == "" {
		t.Skip("set STEVEDORE_LONG_TESTS=1 to build an 8 GiB layer (~30 s); internal/tarx's TestHugeEntry covers the header at the tar level")
	}
	const size = 8<<30 + 1
	d := t.TempDir()
	p := filepath.Join(d, "huge")
	f, err := os.Create(p)
	require.NoError(t, err)
	if err := f.Truncate(size); err != nil {
		t.Skipf("sparse file: %v", err)
	}
	require.NoError(t, f.Close())
	l, err := FromDir(d, WithRoot("/data"), WithTempDir(t.TempDir()), WithCompression(Zstd))
	require.NoError(t, err)
	_, err = l.Digest()
	require.NoError(t, err, "Digest()")
	rc, err := l.Uncompressed()
	require.NoError(t, err, "Uncompressed()")
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		require.NoError(t, err, "no entry for the huge file")
		if h.Name != "data/huge" {
			continue
		}
		assert.Equal(t, int64(size), h.Size, "header size")
		n, err := io.Copy(io.Discard, tr)
		require.NoError(t, err, "reading the content")
		assert.Equal(t, int64(size), n, "bytes of content")
		break
	}
}
