// Package exampletest holds what the tests of the example programs share:
// running a program's run function, reading the reference it printed,
// opening the image it produced (from a registry or an OCI tarball), and
// listing the files of an image as a container would see them.
package exampletest

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/stevedore-dev/stevedore/examples/internal/cli"
	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/registry"
)

// Result is what one run of an example printed.
type Result struct {
	Stdout, Stderr string
	// Ref is the last line of stdout: "REF@sha256:..." or
	// "FILE@sha256:...".
	Ref string
	// Name is Ref without "@sha256:..."; Digest is the "sha256:..." part.
	Name, Digest string
}

var refLine = regexp.MustCompile(`^(\S+)@(sha256:[0-9a-f]{64})$`)

// Run calls run with args and fails the test when it returns an error or
// when the last line of stdout is not "NAME@sha256:<64 hex>".
func Run(t testing.TB, run cli.RunFunc, args ...string) Result {
	t.Helper()
	r, err := RunErr(t, run, args...)
	if err != nil {
		t.Fatalf("run(%q) = %v, want success; stderr:\n%s", args, err, r.Stderr)
	}
	return r
}

// RunErr calls run with args and returns its error; on success it checks
// the last line of stdout as Run does.
func RunErr(t testing.TB, run cli.RunFunc, args ...string) (Result, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), args, &stdout, &stderr)
	r := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	if err != nil {
		return r, err
	}
	lines := strings.Split(strings.TrimRight(r.Stdout, "\n"), "\n")
	r.Ref = lines[len(lines)-1]
	m := refLine.FindStringSubmatch(r.Ref)
	if m == nil {
		t.Fatalf("run(%q): last line of stdout = %q, want NAME@sha256:<64 hex>", args, r.Ref)
	}
	r.Name, r.Digest = m[1], m[2]
	return r, nil
}

// OpenTarball reads the image named refName (or the only image, when
// refName is empty) of the OCI tarball at file, checks it with
// validate.Image, and checks that its digest is digest.
func OpenTarball(t testing.TB, file, refName, digest string) v1.Image {
	t.Helper()
	img, err := readTarball(t, file).Image(refName)
	if err != nil {
		t.Fatalf("Layout.Image(%q) of %s = %v", refName, file, err)
	}
	check(t, img, digest)
	return img
}

// OpenIndexTarball is OpenTarball for an image index.
func OpenIndexTarball(t testing.TB, file, refName, digest string) v1.ImageIndex {
	t.Helper()
	idx, err := readTarball(t, file).ImageIndex(refName)
	if err != nil {
		t.Fatalf("Layout.ImageIndex(%q) of %s = %v", refName, file, err)
	}
	checkIndex(t, idx, file, digest)
	return idx
}

// readTarball reads the OCI tarball at file, open until the test ends.
func readTarball(t testing.TB, file string) *image.Layout {
	t.Helper()
	l, err := image.ReadOCITarball(file)
	if err != nil {
		t.Fatalf("image.ReadOCITarball(%q) = %v", file, err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// Pull pulls ref (as printed: REF@sha256:...) from a registry, checks it
// with validate.Image and returns it.
func Pull(t testing.TB, ref string, opts ...registry.Option) v1.Image {
	t.Helper()
	img, err := registry.Pull(context.Background(), ref, opts...)
	if err != nil {
		t.Fatalf("registry.Pull(%q) = %v", ref, err)
	}
	check(t, img, printedDigest(ref))
	return img
}

// PullIndex is Pull for an image index (validate.Index).
func PullIndex(t testing.TB, ref string, opts ...registry.Option) v1.ImageIndex {
	t.Helper()
	idx, err := registry.PullIndex(context.Background(), ref, opts...)
	if err != nil {
		t.Fatalf("registry.PullIndex(%q) = %v", ref, err)
	}
	checkIndex(t, idx, ref, printedDigest(ref))
	return idx
}

// printedDigest is the digest of ref, as printed: the "sha256:..." of
// "REF@sha256:...".
func printedDigest(ref string) string { return ref[strings.LastIndex(ref, "@")+1:] }

// check checks img with validate.Image (see validateImage), and that its
// digest is digest, the printed one.
func check(t testing.TB, img v1.Image, digest string) {
	t.Helper()
	if err := validateImage(img); err != nil {
		t.Fatalf("validate.Image = %v", err)
	}
	h, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if h.String() != digest {
		t.Fatalf("image digest = %s, want %s (the printed one)", h, digest)
	}
}

// checkIndex is check for an index read from where (a file or a
// reference), with validate.Index.
func checkIndex(t testing.TB, idx v1.ImageIndex, where, digest string) {
	t.Helper()
	if err := validate.Index(idx); err != nil {
		t.Fatalf("validate.Index(%s) = %v", where, err)
	}
	if h, _ := idx.Digest(); h.String() != digest {
		t.Fatalf("index digest = %s of %s, want %s (the printed one)", h, where, digest)
	}
}

// Config returns img's config file.
func Config(t testing.TB, img v1.Image) *v1.Config {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatalf("ConfigFile() = %v", err)
	}
	return &cf.Config
}

// Env returns the value of key in cfg's environment, and whether it is set.
func Env(cfg *v1.Config, key string) (string, bool) {
	for _, kv := range cfg.Env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// File is one entry of an image's file system.
type File struct {
	Header *tar.Header
	// Data is the content of a regular file of at most MaxData bytes.
	Data []byte
}

// MaxData bounds the contents Files and LayerFiles keep.
const MaxData = 1 << 20

// Files returns the file system of img as a container would see it:
// every layer applied in order, whiteouts honoured, keyed by clean
// absolute path ("/usr/local/go/bin/go").
func Files(t testing.TB, img v1.Image) map[string]File {
	t.Helper()
	return FilesLimit(t, img, MaxData)
}

// FilesLimit is Files keeping the contents of regular files of at most
// limit bytes.
func FilesLimit(t testing.TB, img v1.Image, limit int64) map[string]File {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatalf("Layers() = %v", err)
	}
	files := map[string]File{}
	for _, l := range layers {
		lf := LayerFilesLimit(t, l, limit)
		// Whiteouts hide what the lower layers hold, then this layer's
		// entries are added.
		for name := range lf {
			dir, base := path.Split(name)
			switch {
			case base == ".wh..wh..opq":
				for p := range files {
					if strings.HasPrefix(p, dir) {
						delete(files, p)
					}
				}
			case strings.HasPrefix(base, ".wh."):
				gone := path.Join(dir, strings.TrimPrefix(base, ".wh."))
				for p := range files {
					if p == gone || strings.HasPrefix(p, gone+"/") {
						delete(files, p)
					}
				}
			}
		}
		for name, f := range lf {
			if !strings.HasPrefix(path.Base(name), ".wh.") {
				files[name] = f
			}
		}
	}
	return files
}

// LayerFiles returns the entries of one layer keyed by clean absolute path.
func LayerFiles(t testing.TB, l v1.Layer) map[string]File {
	t.Helper()
	return LayerFilesLimit(t, l, MaxData)
}

// LayerFilesLimit is LayerFiles keeping the contents of regular files of
// at most limit bytes.
func LayerFilesLimit(t testing.TB, l v1.Layer, limit int64) map[string]File {
	t.Helper()
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatalf("Uncompressed() = %v", err)
	}
	defer rc.Close()
	files := map[string]File{}
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading layer: %v", err)
		}
		f := File{Header: hdr}
		if hdr.Typeflag == tar.TypeReg && hdr.Size <= limit {
			if f.Data, err = io.ReadAll(tr); err != nil {
				t.Fatalf("reading %s: %v", hdr.Name, err)
			}
		}
		files[path.Join("/", hdr.Name)] = f
	}
	return files
}

// validateImage is validate.Image, except that layers of zstd media type,
// whose bytes go-containerregistry's validate.Layer cannot read (it
// assumes gzip), are checked here: digest and size of the compressed
// bytes, diff ID of the uncompressed ones.
func validateImage(img v1.Image) error {
	m, err := img.Manifest()
	if err != nil {
		return err
	}
	zstd := false
	for _, d := range m.Layers {
		zstd = zstd || d.MediaType == types.OCILayerZStd
	}
	if !zstd {
		return validate.Image(img)
	}
	if err := validate.Image(img, validate.Fast); err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		diffID, err := l.DiffID()
		if err != nil {
			return err
		}
		size, err := l.Size()
		if err != nil {
			return err
		}
		gotD, gotSize, err := hashOf(l.Compressed)
		if err != nil {
			return fmt.Errorf("layer %s: %w", d, err)
		}
		if gotD != d || gotSize != size {
			return fmt.Errorf("layer %s: compressed bytes have digest %s and size %d, want %s and %d", d, gotD, gotSize, d, size)
		}
		gotDiffID, _, err := hashOf(l.Uncompressed)
		if err != nil {
			return fmt.Errorf("layer %s: %w", d, err)
		}
		if gotDiffID != diffID {
			return fmt.Errorf("layer %s: uncompressed bytes have digest %s, want the diff ID %s", d, gotDiffID, diffID)
		}
	}
	return nil
}

func hashOf(open func() (io.ReadCloser, error)) (v1.Hash, int64, error) {
	rc, err := open()
	if err != nil {
		return v1.Hash{}, 0, err
	}
	defer rc.Close()
	return v1.SHA256(rc)
}

// CacheBlobs returns the inode of every layer blob file of a layer cache
// directory (see layer.WithCache); the file indexes kept beside layers
// are left out. A cache miss writes the layer to a new file renamed over
// the blob, so an unchanged inode across a rebuild shows the layer was
// reused, without timing anything.
func CacheBlobs(t testing.TB, cache string) map[string]uint64 {
	t.Helper()
	m := map[string]uint64{}
	dir := filepath.Join(cache, "blobs", "sha256")
	entries, err := filepath.Glob(filepath.Join(cache, "entries", "*.json"))
	if err != nil {
		t.Fatalf("reading the layer cache: %v", err)
	}
	for _, p := range entries {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var e struct {
			Digest    string `json:"digest"`
			MediaType string `json:"mediaType"`
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatalf("cache entry %s: %v", p, err)
		}
		if !strings.Contains(e.MediaType, "layer") {
			continue
		}
		name := strings.TrimPrefix(e.Digest, "sha256:")
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			t.Skip("no inode numbers on this system")
		}
		m[name] = uint64(st.Ino)
	}
	return m
}
