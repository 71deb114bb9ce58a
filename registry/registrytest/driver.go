package registrytest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	storagedriver "github.com/distribution/distribution/v3/registry/storage/driver"
)

// memDriverName names the in-memory storage driver in Distribution's
// storage driver registry.
const memDriverName = "registrytest"

// memDriver is a Distribution storage driver that keeps files in memory.
// Distribution ships one (inmemory), but it imports Distribution's tracing
// package and with it OpenTelemetry's exporters and gRPC, which would
// double what registrytest costs to compile; this one is all a test
// registry needs. Directories exist as the parents of files.
//
// File contents are only ever appended to or replaced, never changed in
// place, so readers may keep a slice of them without holding the lock.
type memDriver struct {
	mu    sync.RWMutex
	files map[string]*memFile
}

type memFile struct {
	data []byte
	mod  time.Time
}

var _ storagedriver.StorageDriver = (*memDriver)(nil)

func newMemDriver() *memDriver { return &memDriver{files: map[string]*memFile{}} }

// memDriverFactory hands Distribution the driver passed in its parameters,
// so that each Server has its own storage.
type memDriverFactory struct{}

func (memDriverFactory) Create(_ context.Context, params map[string]any) (storagedriver.StorageDriver, error) {
	d, ok := params["driver"].(*memDriver)
	if !ok {
		return nil, fmt.Errorf("registrytest: storage parameters hold no driver")
	}
	return d, nil
}

func (d *memDriver) Name() string { return memDriverName }

func (d *memDriver) GetContent(_ context.Context, path string) ([]byte, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	f, ok := d.files[path]
	if !ok {
		return nil, storagedriver.PathNotFoundError{Path: path, DriverName: memDriverName}
	}
	return bytes.Clone(f.data), nil
}

func (d *memDriver) PutContent(_ context.Context, path string, content []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.files[path] = &memFile{data: bytes.Clone(content), mod: time.Now()}
	return nil
}

func (d *memDriver) Reader(_ context.Context, path string, offset int64) (io.ReadCloser, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	f, ok := d.files[path]
	if !ok {
		return nil, storagedriver.PathNotFoundError{Path: path, DriverName: memDriverName}
	}
	if offset < 0 || offset > int64(len(f.data)) {
		return nil, storagedriver.InvalidOffsetError{Path: path, Offset: offset, DriverName: memDriverName}
	}
	return io.NopCloser(bytes.NewReader(f.data[offset:len(f.data):len(f.data)])), nil
}

func (d *memDriver) Writer(_ context.Context, path string, appendTo bool) (storagedriver.FileWriter, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f, ok := d.files[path]
	if !ok || !appendTo {
		f = &memFile{mod: time.Now()}
		d.files[path] = f
	}
	return &memWriter{d: d, path: path, f: f}, nil
}

func (d *memDriver) Stat(_ context.Context, path string) (storagedriver.FileInfo, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	fi := storagedriver.FileInfoFields{Path: path}
	if f, ok := d.files[path]; ok {
		fi.Size, fi.ModTime = int64(len(f.data)), f.mod
		return storagedriver.FileInfoInternal{FileInfoFields: fi}, nil
	}
	prefix := dirPrefix(path)
	for p, f := range d.files {
		if strings.HasPrefix(p, prefix) {
			fi.IsDir = true
			if f.mod.After(fi.ModTime) {
				fi.ModTime = f.mod
			}
		}
	}
	if !fi.IsDir {
		return nil, storagedriver.PathNotFoundError{Path: path, DriverName: memDriverName}
	}
	return storagedriver.FileInfoInternal{FileInfoFields: fi}, nil
}

// List returns the full paths of the directory's children.
func (d *memDriver) List(_ context.Context, path string) ([]string, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	prefix := dirPrefix(path)
	seen := map[string]bool{}
	var out []string
	for p := range d.files {
		rest, ok := strings.CutPrefix(p, prefix)
		if !ok {
			continue
		}
		child, _, _ := strings.Cut(rest, "/")
		if !seen[child] {
			seen[child] = true
			out = append(out, prefix+child)
		}
	}
	if len(out) == 0 && path != "/" {
		return nil, storagedriver.PathNotFoundError{Path: path, DriverName: memDriverName}
	}
	return out, nil
}

// Move renames a file or a directory, replacing what was at the
// destination.
func (d *memDriver) Move(_ context.Context, src, dst string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	moved := d.removeLocked(src)
	if len(moved) == 0 {
		return storagedriver.PathNotFoundError{Path: src, DriverName: memDriverName}
	}
	d.removeLocked(dst)
	for p, f := range moved {
		d.files[dst+strings.TrimPrefix(p, src)] = f
	}
	return nil
}

// Delete removes a file or a directory and everything under it.
func (d *memDriver) Delete(_ context.Context, path string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.removeLocked(path)) == 0 {
		return storagedriver.PathNotFoundError{Path: path, DriverName: memDriverName}
	}
	return nil
}

// removeLocked removes path and what is under it and returns what it
// removed. d.mu is held.
func (d *memDriver) removeLocked(path string) map[string]*memFile {
	gone := map[string]*memFile{}
	prefix := dirPrefix(path)
	for p, f := range d.files {
		if p == path || strings.HasPrefix(p, prefix) {
			gone[p] = f
			delete(d.files, p)
		}
	}
	return gone
}

// RedirectURL returns "": Distribution serves blobs itself.
func (d *memDriver) RedirectURL(*http.Request, string) (string, error) { return "", nil }

func (d *memDriver) Walk(ctx context.Context, path string, f storagedriver.WalkFn, opts ...func(*storagedriver.WalkOptions)) error {
	return storagedriver.WalkFallback(ctx, d, path, f, opts...)
}

func dirPrefix(path string) string {
	if path == "/" {
		return "/"
	}
	return path + "/"
}

// memWriter appends to a file as it is written: an upload that spans
// several requests reopens the file in append mode each time.
type memWriter struct {
	d    *memDriver
	path string
	f    *memFile
	done bool
}

func (w *memWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, fmt.Errorf("registrytest: write to closed file %s", w.path)
	}
	w.d.mu.Lock()
	defer w.d.mu.Unlock()
	w.f.data = append(w.f.data, p...)
	w.f.mod = time.Now()
	return len(p), nil
}

func (w *memWriter) Size() int64 {
	w.d.mu.RLock()
	defer w.d.mu.RUnlock()
	return int64(len(w.f.data))
}

func (w *memWriter) Close() error {
	if w.done {
		return fmt.Errorf("registrytest: file %s already closed", w.path)
	}
	w.done = true
	return nil
}

func (w *memWriter) Cancel(context.Context) error {
	w.done = true
	w.d.mu.Lock()
	defer w.d.mu.Unlock()
	if w.d.files[w.path] == w.f {
		delete(w.d.files, w.path)
	}
	return nil
}

func (w *memWriter) Commit(context.Context) error {
	if w.done {
		return fmt.Errorf("registrytest: file %s already closed", w.path)
	}
	return nil
}
