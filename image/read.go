package image

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// maxManifestSize bounds the manifests and configs read into memory.
const maxManifestSize = 16 << 20

// Layout is an OCI image layout opened by [ReadOCILayout] or
// [ReadOCITarball]. [Layout.Image] and [Layout.ImageIndex] pick an entry of
// its index.json by its org.opencontainers.image.ref.name (see
// [WithRefName]); [Layout.Index] gives index.json itself. Blobs are read
// lazily, and every blob read is checked against its digest. Close it when
// done (it keeps an archive open).
type Layout struct {
	store  blobStore
	index  *layoutIndex
	closer io.Closer
}

// blobStore opens blobs by digest.
type blobStore interface {
	open(h v1.Hash) (io.ReadCloser, error)
}

// ReadOCILayout opens the OCI image layout in dir, as written by
// [WriteOCILayout] or `skopeo copy ... oci:dir`.
func ReadOCILayout(dir string) (*Layout, error) {
	b, err := os.ReadFile(filepath.Join(dir, "oci-layout"))
	if err != nil {
		return nil, fmt.Errorf("image: reading layout %s: %w", dir, err)
	}
	if err := checkLayoutFile(b); err != nil {
		return nil, fmt.Errorf("image: reading layout %s: %w", dir, err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		return nil, fmt.Errorf("image: reading layout %s: %w", dir, err)
	}
	return newLayout(dirStore(dir), raw, nil, dir)
}

// ReadOCITarball opens the tar of an OCI image layout at path, as written by
// [WriteOCITarball] or `skopeo copy ... oci-archive:path`. The archive is
// indexed once and blobs are then read from it in place, not extracted.
func ReadOCITarball(path string) (*Layout, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("image: reading %s: %w", path, err)
	}
	s, err := indexTar(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("image: reading %s: %w", path, err)
	}
	read := func(n string) ([]byte, error) {
		e, ok := s.files[n]
		if !ok {
			return nil, fmt.Errorf("no %s in archive: %w", n, ErrNotFound)
		}
		if e.size > maxManifestSize {
			return nil, fmt.Errorf("%s is %d bytes, too large", n, e.size)
		}
		return io.ReadAll(io.NewSectionReader(f, e.off, e.size))
	}
	b, err := read("oci-layout")
	if err == nil {
		err = checkLayoutFile(b)
	}
	var raw []byte
	if err == nil {
		raw, err = read("index.json")
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("image: reading %s: %w", path, err)
	}
	return newLayout(s, raw, f, path)
}

func checkLayoutFile(b []byte) error {
	var l struct {
		ImageLayoutVersion string `json:"imageLayoutVersion"`
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return fmt.Errorf("oci-layout: %w", err)
	}
	if l.ImageLayoutVersion != "1.0.0" {
		return fmt.Errorf("oci-layout: imageLayoutVersion %q, want 1.0.0", l.ImageLayoutVersion)
	}
	return nil
}

func newLayout(s blobStore, raw []byte, c io.Closer, where string) (*Layout, error) {
	im, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		if c != nil {
			c.Close()
		}
		return nil, fmt.Errorf("image: reading %s: index.json: %w", where, err)
	}
	mt := im.MediaType
	if mt == "" {
		mt = types.OCIImageIndex
	}
	return &Layout{store: s, closer: c, index: &layoutIndex{rawIndex: rawIndex{mt, raw}, store: s}}, nil
}

// Close releases the archive of a layout read by [ReadOCITarball].
func (l *Layout) Close() error {
	if l.closer != nil {
		return l.closer.Close()
	}
	return nil
}

// Index returns the layout's index.json as an image index.
func (l *Layout) Index() v1.ImageIndex { return l.index }

// Image returns the image of index.json's entry named refName. An empty
// refName picks the only image entry, and is an error ([ErrAmbiguous]) when
// index.json has several.
func (l *Layout) Image(refName string) (v1.Image, error) {
	d, err := l.find(refName, types.MediaType.IsImage)
	if err != nil {
		return nil, err
	}
	return l.index.Image(d.Digest)
}

// ImageIndex returns the index of index.json's entry named refName. An empty
// refName picks the only index entry, and is an error ([ErrAmbiguous]) when
// index.json has several.
func (l *Layout) ImageIndex(refName string) (v1.ImageIndex, error) {
	d, err := l.find(refName, types.MediaType.IsIndex)
	if err != nil {
		return nil, err
	}
	return l.index.ImageIndex(d.Digest)
}

func (l *Layout) find(refName string, kind func(types.MediaType) bool) (v1.Descriptor, error) {
	im, err := l.index.IndexManifest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	var found []v1.Descriptor
	for _, d := range im.Manifests {
		if refName != "" && d.Annotations[RefNameAnnotation] != refName {
			continue
		}
		if !kind(d.MediaType) {
			if refName != "" {
				return v1.Descriptor{}, fmt.Errorf("image: layout entry %q has media type %s", refName, d.MediaType)
			}
			continue
		}
		found = append(found, d)
	}
	switch {
	case len(found) == 0 && refName == "":
		return v1.Descriptor{}, fmt.Errorf("image: layout has no such entry: %w", ErrNotFound)
	case len(found) == 0:
		return v1.Descriptor{}, fmt.Errorf("image: layout has no entry named %q: %w", refName, ErrNotFound)
	case len(found) > 1 && refName == "":
		return v1.Descriptor{}, fmt.Errorf("image: layout has %d entries; give a ref name: %w", len(found), ErrAmbiguous)
	}
	return found[len(found)-1], nil
}

// readBlob reads a small blob whole, checking its digest.
func readBlob(s blobStore, d v1.Descriptor) ([]byte, error) {
	if d.Size > maxManifestSize {
		return nil, fmt.Errorf("image: blob %s is %d bytes, too large for a manifest or config", d.Digest, d.Size)
	}
	rc, err := s.open(d.Digest)
	if err != nil {
		return nil, err
	}
	vr, err := newVerifyReader(rc, d.Digest, d.Size)
	if err != nil {
		return nil, err
	}
	defer vr.Close()
	return io.ReadAll(vr)
}

// layoutIndex is an index read from a layout.
type layoutIndex struct {
	rawIndex
	store blobStore
}

var _ v1.ImageIndex = (*layoutIndex)(nil)

// child returns the descriptor and manifest of the child h, which must
// be of the kind ("image", "index") that is reports.
func (i *layoutIndex) child(h v1.Hash, kind string, is func(types.MediaType) bool) (v1.Descriptor, []byte, error) {
	d, raw, err := i.manifest(h)
	if err == nil && !is(d.MediaType) {
		err = fmt.Errorf("image: manifest %s has media type %s, not an %s", h, d.MediaType, kind)
	}
	return d, raw, err
}

// manifest returns the descriptor and manifest of the child h.
func (i *layoutIndex) manifest(h v1.Hash) (v1.Descriptor, []byte, error) {
	im, err := i.IndexManifest()
	if err != nil {
		return v1.Descriptor{}, nil, err
	}
	for _, d := range im.Manifests {
		if d.Digest == h {
			raw, err := readBlob(i.store, d)
			if err != nil {
				return v1.Descriptor{}, nil, fmt.Errorf("image: manifest %s: %w", h, err)
			}
			return d, raw, nil
		}
	}
	return v1.Descriptor{}, nil, fmt.Errorf("image: no manifest %s in index: %w", h, ErrNotFound)
}

func (i *layoutIndex) Image(h v1.Hash) (v1.Image, error) {
	d, raw, err := i.child(h, "image", types.MediaType.IsImage)
	if err != nil {
		return nil, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("image: manifest %s: %w", h, err)
	}
	return partial.CompressedToImage(&layoutImage{store: i.store, raw: raw, mt: d.MediaType, m: m})
}

func (i *layoutIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	d, raw, err := i.child(h, "index", types.MediaType.IsIndex)
	if err != nil {
		return nil, err
	}
	return &layoutIndex{rawIndex: rawIndex{d.MediaType, raw}, store: i.store}, nil
}

// layoutImage is an image read from a layout.
type layoutImage struct {
	store blobStore
	raw   []byte
	mt    types.MediaType
	m     *v1.Manifest
}

var _ partial.CompressedImageCore = (*layoutImage)(nil)

func (i *layoutImage) MediaType() (types.MediaType, error) { return i.mt, nil }
func (i *layoutImage) RawManifest() ([]byte, error)        { return bytes.Clone(i.raw), nil }
func (i *layoutImage) RawConfigFile() ([]byte, error)      { return readBlob(i.store, i.m.Config) }

func (i *layoutImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if h == i.m.Config.Digest {
		return &layoutBlob{store: i.store, d: i.m.Config}, nil
	}
	for _, d := range i.m.Layers {
		if d.Digest == h {
			return &layoutBlob{store: i.store, d: d}, nil
		}
	}
	return nil, fmt.Errorf("image: no blob %s in image: %w", h, ErrNotFound)
}

// layoutBlob is a layer (or config) of a layout image.
type layoutBlob struct {
	store blobStore
	d     v1.Descriptor
}

func (b *layoutBlob) Digest() (v1.Hash, error)            { return b.d.Digest, nil }
func (b *layoutBlob) Size() (int64, error)                { return b.d.Size, nil }
func (b *layoutBlob) MediaType() (types.MediaType, error) { return b.d.MediaType, nil }
func (b *layoutBlob) Compressed() (io.ReadCloser, error) {
	rc, err := b.store.open(b.d.Digest)
	if err != nil {
		return nil, err
	}
	vr, err := newVerifyReader(rc, b.d.Digest, b.d.Size)
	if ra, ok := rc.(io.ReaderAt); ok && err == nil {
		return verifiedAt{vr, ra}, nil
	}
	return vr, err
}

// verifiedAt is a blob's verifying reader with random access to the
// blob in place, unverified, for readers that check what they read by
// other means (the base file view checks a table of contents against its
// digest: see readTOC).
type verifiedAt struct {
	io.ReadCloser
	io.ReaderAt
}

// dirStore reads blobs from a layout directory.
type dirStore string

func (s dirStore) open(h v1.Hash) (io.ReadCloser, error) {
	if h.Algorithm != "sha256" || len(h.Hex) != 64 || strings.ContainsAny(h.Hex, "/\\.") {
		return nil, fmt.Errorf("image: blob %s: unsupported digest", h)
	}
	f, err := os.Open(filepath.Join(string(s), "blobs", h.Algorithm, h.Hex))
	if err != nil {
		return nil, fmt.Errorf("image: blob %s: %w", h, err)
	}
	return f, nil
}

// tarStore reads blobs in place from an archive indexed by indexTar.
type tarStore struct {
	f     *os.File
	files map[string]tarEntry
}

type tarEntry struct{ off, size int64 }

func (s *tarStore) open(h v1.Hash) (io.ReadCloser, error) {
	e, ok := s.files["blobs/"+h.Algorithm+"/"+h.Hex]
	if !ok {
		return nil, fmt.Errorf("image: blob %s not in archive: %w", h, ErrNotFound)
	}
	return sectionCloser{io.NewSectionReader(s.f, e.off, e.size)}, nil
}

// sectionCloser is a section of the archive; closing it closes nothing.
type sectionCloser struct{ *io.SectionReader }

func (sectionCloser) Close() error { return nil }

// indexTar records where each regular file's data starts in f. archive/tar
// reads exactly up to the data of the entry Next returns (and seeks over
// data it skips), so the file offset after Next is that entry's data.
func indexTar(f *os.File) (*tarStore, error) {
	s := &tarStore{f: f, files: map[string]tarEntry{}}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading archive: %w", err)
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		for k := range hdr.PAXRecords {
			if strings.HasPrefix(k, "GNU.sparse.") {
				return nil, fmt.Errorf("archive entry %q is a sparse file", hdr.Name)
			}
		}
		off, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, err
		}
		n := path.Clean(strings.TrimPrefix(hdr.Name, "./"))
		s.files[n] = tarEntry{off: off, size: hdr.Size}
	}
	return s, nil
}
