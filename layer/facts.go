package layer

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime/debug"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stevedore-dev/stevedore/internal/cache"
	"github.com/stevedore-dev/stevedore/internal/ctxio"
	"github.com/stevedore-dev/stevedore/internal/tarx"
)

// Facts is what a layer's build knows of its inputs and its content: what
// an SBOM and a provenance statement state (see package attest).
type Facts struct {
	// Inputs are the layer's sources, in order (deletions excepted).
	Inputs []Input
	// Binaries are the Go executables the layer holds, found as the
	// layer was written (never by a second read).
	Binaries []Binary
}

// Input is one source of a layer.
type Input struct {
	// Kind is the source's kind: "dir", "fs", "files", "tarball", "url",
	// "file" (HostFile), "url file" (URLFile) or "mkdir" (Dirs).
	Kind string
	// URI is a download's URL (scheme, host and path only: never user
	// info or query); "" for local content, whose host path would make
	// the facts differ between machines.
	URI string
	// Digest is the sha256 of a tarball, download or host file, or the
	// content digest of a directory, fs.FS or in-memory files (the hash of
	// every kept entry's path, type, mode, owner, link target and content,
	// as the layer cache keys them); the zero Hash for "mkdir".
	Digest v1.Hash
	// Destination is where the source lands in the image ("/usr/local").
	Destination string
}

// Binary is a Go executable a layer holds.
type Binary struct {
	// Path is its path in the image ("/usr/local/go/bin/go").
	Path string
	// Info is its build information, as debug/buildinfo reads it.
	Info *debug.BuildInfo
	// Digest is the sha256 of the file.
	Digest v1.Hash
}

// Recorder is implemented by the layers of this package: Facts builds the
// layer if needed and returns what the build knows of it.
type Recorder interface {
	Facts(ctx context.Context) (Facts, error)
}

var _ Recorder = (*layer)(nil)

// Facts implements Recorder. It builds the layer if needed. The inputs'
// digests are those the build or its cache key computed; a directory or
// fs.FS of a layer built without WithCache is read once more to hash its
// content, and Facts fails with ErrChanged when it is no longer what the
// layer was built from. The Go executables are those the build found as it wrote the
// layer; for a layer served from a cache, those the cache recorded beside
// it (or, for an entry without that record, found by reading its blob
// once).
func (l *layer) Facts(ctx context.Context) (Facts, error) {
	if err := l.Compute(ctx); err != nil {
		return Facts{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var f Facts
	for i, s := range l.srcs {
		in, ok, err := s.input(ctx, l.preps[i])
		if err != nil {
			return Facts{}, fmt.Errorf("facts of layer (%s): %w", l.createdBy, err)
		}
		if ok {
			f.Inputs = append(f.Inputs, in)
		}
	}
	bins, err := l.binaries(ctx)
	if err != nil {
		return Facts{}, fmt.Errorf("facts of layer (%s): Go executables: %w", l.createdBy, err)
	}
	for _, b := range bins {
		d, err := v1.NewHash(b.Digest)
		if err != nil {
			return Facts{}, fmt.Errorf("facts of layer (%s): %s: %w", l.createdBy, b.Name, err)
		}
		f.Binaries = append(f.Binaries, Binary{Path: "/" + b.Name, Info: b.Info, Digest: d})
	}
	return f, nil
}

// binaries returns the Go executables of the built layer: the writer's
// list, else the one kept with the cache entry or the remote entry, else
// those found reading the blob (then kept in the cache). l.mu is held.
func (l *layer) binaries(ctx context.Context) ([]tarx.Binary, error) {
	if l.res.scanned {
		return l.res.bins, nil
	}
	var c *cache.Cache
	if l.cacheDir != "" {
		c, _ = l.localCache()
	}
	if c != nil {
		if bins, ok := loadBinaries(c, l.res.diffID); ok {
			return bins, nil
		}
	}
	if r, ok := l.stored.(interface{ GoBinaries() ([]byte, bool) }); ok {
		if raw, ok := r.GoBinaries(); ok {
			if bins, err := decodeBinaries(raw); err == nil {
				return bins, nil
			}
		}
	}
	bins, err := l.scanBinaries(ctx)
	if err != nil {
		return nil, err
	}
	l.res.bins, l.res.scanned = bins, true
	if c != nil {
		_ = storeBinaries(c, l.res.diffID, bins)
	}
	return bins, nil
}

// scanBinaries reads the blob for its Go executables.
func (l *layer) scanBinaries(ctx context.Context) ([]tarx.Binary, error) {
	rc, err := l.blob.open(l)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	zr, err := compressReader(ctxio.Reader(ctx, rc), l.comp)
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	return tarx.ScanBinaries(zr)
}

// binaryRecord is how a cache keeps a Go executable found in a layer:
// its build information as runtime/debug.BuildInfo.String writes it (and
// debug.ParseBuildInfo reads it back, but for the Go version).
type binaryRecord struct {
	Name      string `json:"name"`
	Digest    string `json:"digest"`
	GoVersion string `json:"goVersion"`
	BuildInfo string `json:"buildInfo"`
}

// goBinariesKey is the cache key of the list of Go executables of the
// layer with diff ID d.
func goBinariesKey(d v1.Hash) string {
	return cache.NewKey("layer/go-binaries/v1").AddString(d.String()).Sum()
}

func encodeBinaries(bins []tarx.Binary) []byte {
	recs := make([]binaryRecord, 0, len(bins))
	for _, b := range bins {
		recs = append(recs, binaryRecord{Name: b.Name, Digest: b.Digest, GoVersion: b.Info.GoVersion, BuildInfo: b.Info.String()})
	}
	raw, _ := json.Marshal(recs) // strings only: cannot fail
	return raw
}

func decodeBinaries(raw []byte) ([]tarx.Binary, error) {
	var recs []binaryRecord
	if err := json.Unmarshal(raw, &recs); err != nil {
		return nil, err
	}
	bins := make([]tarx.Binary, 0, len(recs))
	for _, r := range recs {
		info, err := debug.ParseBuildInfo(r.BuildInfo)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.Name, err)
		}
		info.GoVersion = r.GoVersion
		if _, err := v1.NewHash(r.Digest); err != nil {
			return nil, fmt.Errorf("%s: %w", r.Name, err)
		}
		bins = append(bins, tarx.Binary{Name: r.Name, Digest: r.Digest, Info: info})
	}
	return bins, nil
}

// storeBinaries keeps the list of Go executables of the layer with diff
// ID d in c, unsynced as other records derived from a layer are (see
// loadBinaries: a lost or cut list is a miss).
func storeBinaries(c *cache.Cache, d v1.Hash, bins []tarx.Binary) error {
	return c.StoreDerived(goBinariesKey(d), cache.Meta{
		MediaType: "application/vnd.stevedore.go-binaries.v1+json",
		CreatedBy: "Go executables of layer " + d.String(),
	}, func(w io.Writer) error {
		_, err := w.Write(encodeBinaries(bins))
		return err
	})
}

// loadBinaries reads the list storeBinaries kept; ok is false when there
// is none or it cannot be read.
func loadBinaries(c *cache.Cache, d v1.Hash) (bins []tarx.Binary, ok bool) {
	ok = c.LoadDerived(goBinariesKey(d), func(r io.Reader) error {
		raw, err := io.ReadAll(r)
		if err == nil {
			bins, err = decodeBinaries(raw)
		}
		return err
	})
	return bins, ok
}
