package image

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Artifact is what the Write functions take: a v1.Image or a
// v1.ImageIndex (both satisfy it).
type Artifact interface {
	MediaType() (types.MediaType, error)
	Digest() (v1.Hash, error)
	RawManifest() ([]byte, error)
}

const ociLayoutFile = `{"imageLayoutVersion":"1.0.0"}`

// blobSink receives the blobs of an artifact, children before parents.
type blobSink interface {
	has(h v1.Hash) bool
	put(ctx context.Context, h v1.Hash, size int64, open func() (io.ReadCloser, error)) error
}

func bytesOpener(b []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

// describeArtifact returns the descriptor of a and its raw manifest.
func describeArtifact(a Artifact) (v1.Descriptor, []byte, error) {
	mt, err := a.MediaType()
	if err != nil {
		return v1.Descriptor{}, nil, err
	}
	raw, err := a.RawManifest()
	if err != nil {
		return v1.Descriptor{}, nil, err
	}
	d, size, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return v1.Descriptor{}, nil, err
	}
	return v1.Descriptor{MediaType: mt, Size: size, Digest: d}, raw, nil
}

// putArtifact streams every blob of a into s: layers, config, child
// manifests, then a's own manifest.
func putArtifact(ctx context.Context, s blobSink, a Artifact) (v1.Descriptor, error) {
	desc, raw, err := describeArtifact(a)
	if err != nil {
		return v1.Descriptor{}, err
	}
	if s.has(desc.Digest) {
		return desc, nil
	}
	switch a := a.(type) {
	case v1.Image:
		if err := putImageBlobs(ctx, s, a); err != nil {
			return v1.Descriptor{}, fmt.Errorf("image %s: %w", desc.Digest, err)
		}
	case v1.ImageIndex:
		im, err := a.IndexManifest()
		if err != nil {
			return v1.Descriptor{}, fmt.Errorf("index %s: %w", desc.Digest, err)
		}
		for _, d := range im.Manifests {
			var child Artifact
			switch {
			case d.MediaType.IsImage():
				child, err = a.Image(d.Digest)
			case d.MediaType.IsIndex():
				child, err = a.ImageIndex(d.Digest)
			default:
				err = fmt.Errorf("entry %s has media type %q, neither image nor index", d.Digest, d.MediaType)
			}
			if err != nil {
				return v1.Descriptor{}, fmt.Errorf("index %s: %w", desc.Digest, err)
			}
			if _, err := putArtifact(ctx, s, child); err != nil {
				return v1.Descriptor{}, fmt.Errorf("index %s: %w", desc.Digest, err)
			}
		}
	default:
		return v1.Descriptor{}, fmt.Errorf("artifact %s of type %T is neither v1.Image nor v1.ImageIndex", desc.Digest, a)
	}
	if err := s.put(ctx, desc.Digest, desc.Size, bytesOpener(raw)); err != nil {
		return v1.Descriptor{}, err
	}
	return desc, nil
}

func putImageBlobs(ctx context.Context, s blobSink, img v1.Image) error {
	m, err := img.Manifest()
	if err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	if len(layers) != len(m.Layers) {
		return fmt.Errorf("%d layers, manifest lists %d", len(layers), len(m.Layers))
	}
	for i, d := range m.Layers {
		if len(d.URLs) > 0 && !s.has(d.Digest) {
			// Non-distributable layers are fetched from their URLs by
			// consumers; a layout does not need to hold them.
			continue
		}
		l := layers[i]
		if err := s.put(ctx, d.Digest, d.Size, l.Compressed); err != nil {
			return fmt.Errorf("layer %d: %w", i, err)
		}
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	return s.put(ctx, m.Config.Digest, m.Config.Size, bytesOpener(cfg))
}

// WriteOCITarball writes a (a v1.Image or v1.ImageIndex) to path as a tar
// of an OCI image layout: oci-layout, blobs/sha256/..., and index.json
// with one entry for a, named with [WithRefName] if given. This is what
// `skopeo copy oci-archive:path` and `podman load` read. Blobs are streamed
// from their sources and checked against their digests; the tar is written
// to a temp file in path's directory, fsynced and renamed to path, so a
// failed or cancelled write leaves neither path nor a temp file, and a temp
// file left by a write that was killed is removed by the next write of
// path. A symlink at path is followed (its target is replaced, the link
// stays); a path that is not a regular file (a pipe, /dev/stdout) is
// written as it is. The tar itself is reproducible: same artifact, same
// bytes.
//
// An OCI layout holds OCI media types, as skopeo writes it and as OCI tools
// read it: an artifact of the Docker family is converted with [ToOCI], so
// its manifest digest in the tarball differs from the one it has in a
// registry (layer and config digests do not change).
func WriteOCITarball(ctx context.Context, path string, a Artifact, opts ...WriteOption) error {
	o, a, err := writeArgs("WriteOCITarball", a, opts)
	if err != nil {
		return err
	}
	return writeFileAtomic(ctx, path, func(w io.Writer) error {
		tw := tar.NewWriter(w)
		s := &tarSink{tw: tw, seen: map[v1.Hash]bool{}}
		for _, d := range []string{"blobs/", "blobs/sha256/"} {
			if err := tw.WriteHeader(tarHeader(d, tar.TypeDir, 0)); err != nil {
				return err
			}
		}
		if err := s.file("oci-layout", []byte(ociLayoutFile)); err != nil {
			return err
		}
		descs, err := putEntries(ctx, s, a, o)
		if err != nil {
			return err
		}
		idx, err := json.Marshal(v1.IndexManifest{
			SchemaVersion: 2,
			MediaType:     types.OCIImageIndex,
			Manifests:     descs,
		})
		if err != nil {
			return err
		}
		if err := s.file("index.json", idx); err != nil {
			return err
		}
		return tw.Close()
	})
}

// writeArgs checks the arguments of the writer what (WriteOCITarball,
// WriteOCILayout): its options, and a, converted with ToOCI.
func writeArgs(what string, a Artifact, opts []WriteOption) (*writeOptions, Artifact, error) {
	o, err := makeWriteOptions(opts)
	if err != nil {
		return nil, nil, err
	}
	if a == nil {
		return nil, nil, fmt.Errorf("image: %s: nil artifact", what)
	}
	if a, err = ToOCI(a); err != nil {
		return nil, nil, fmt.Errorf("image: %s: %w", what, err)
	}
	return o, a, nil
}

func tarHeader(name string, typ byte, size int64) *tar.Header {
	mode := int64(0o644)
	if typ == tar.TypeDir {
		mode = 0o755
	}
	return &tar.Header{
		Typeflag: typ,
		Name:     name,
		Size:     size,
		Mode:     mode,
		ModTime:  time.Unix(0, 0),
		Format:   tar.FormatPAX,
	}
}

// tarSink writes blobs as tar entries blobs/sha256/HEX.
type tarSink struct {
	tw   *tar.Writer
	seen map[v1.Hash]bool
}

func (s *tarSink) has(h v1.Hash) bool { return s.seen[h] }

func (s *tarSink) file(name string, b []byte) error {
	if err := s.tw.WriteHeader(tarHeader(name, tar.TypeReg, int64(len(b)))); err != nil {
		return err
	}
	_, err := s.tw.Write(b)
	return err
}

func (s *tarSink) put(ctx context.Context, h v1.Hash, size int64, open func() (io.ReadCloser, error)) error {
	if s.seen[h] {
		return nil
	}
	if h.Algorithm != "sha256" {
		return fmt.Errorf("blob %s: unsupported digest algorithm", h)
	}
	if err := s.tw.WriteHeader(tarHeader("blobs/sha256/"+h.Hex, tar.TypeReg, size)); err != nil {
		return err
	}
	rc, err := open()
	if err != nil {
		return fmt.Errorf("blob %s: %w", h, err)
	}
	defer rc.Close()
	if err := copyBlob(ctx, s.tw, rc, h, size); err != nil {
		return fmt.Errorf("blob %s: %w", h, err)
	}
	s.seen[h] = true
	return nil
}

// WriteDockerTarball writes img to path in the `docker save` format that
// `docker load` and `podman load` read, tagged tag (a reference such as
// "example.com/app:v1"; a name without tag means ":latest"). It is written
// to a temp file in path's directory, fsynced and renamed, so a failed or
// cancelled write leaves neither path nor a temp file; layers are streamed.
// A symlink and a path that is not a regular file are written as with
// [WriteOCITarball]. An empty tag is an error: `docker load` names the image it
// loads by its tag. Layers are written as the image has them: an image
// built with zstd layers loads only into a docker that reads zstd layers.
func WriteDockerTarball(ctx context.Context, path, tag string, img v1.Image) error {
	if img == nil {
		return errors.New("image: WriteDockerTarball: nil image")
	}
	t, err := name.NewTag(tag)
	if err != nil {
		return fmt.Errorf("image: WriteDockerTarball: tag %q: %w", tag, err)
	}
	return writeFileAtomic(ctx, path, func(w io.Writer) error {
		return tarball.Write(t, verifiedImage{img}, w)
	})
}

// verifiedImage is img with each layer's blob checked against the layer's
// digest and size as it is read: go-containerregistry's tarball.Write
// copies blobs without checking them.
type verifiedImage struct{ v1.Image }

func (i verifiedImage) Layers() ([]v1.Layer, error) {
	ls, err := i.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for j, l := range ls {
		out[j] = verifiedLayer{l}
	}
	return out, nil
}

// verifiedLayer is a layer whose Compressed checks its digest and size.
type verifiedLayer struct{ v1.Layer }

func (l verifiedLayer) Compressed() (io.ReadCloser, error) {
	d, err := l.Digest()
	if err != nil {
		return nil, err
	}
	size, err := l.Size()
	if err != nil {
		return nil, err
	}
	rc, err := l.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	return newVerifyReader(rc, d, size)
}

// WriteOCILayout adds a (a v1.Image or v1.ImageIndex) to the OCI image
// layout in dir, creating dir and the layout if needed. Other images in the
// layout are not disturbed: blobs already present are kept (and not
// rewritten), and index.json gains one entry for a. With [WithRefName] the
// entry is named, and an entry that had that name before is removed from
// index.json (its blobs stay); without it, an entry for the same digest
// that is already there is not repeated.
//
// Each blob is written to a temp file, checked against its digest, fsynced
// and renamed; index.json is replaced the same way, last. If the write fails
// or ctx is cancelled, the blobs it added are removed (and dir too, if the
// call created it), index.json is untouched, and no temp file is left.
// Several processes must not write the same layout at once. An artifact
// of the Docker family is converted with [ToOCI], as in [WriteOCITarball].
func WriteOCILayout(ctx context.Context, dir string, a Artifact, opts ...WriteOption) (err error) {
	o, a, err := writeArgs("WriteOCILayout", a, opts)
	if err != nil {
		return err
	}
	created := false
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		created = true
	}
	existing, err := readLayoutIndex(dir)
	if err != nil {
		return err
	}
	s := &dirSink{dir: dir}
	defer func() {
		if err != nil {
			s.rollback()
			if created {
				os.RemoveAll(dir)
			}
		}
	}()
	for _, d := range []string{filepath.Join(dir, "blobs"), filepath.Join(dir, "blobs", "sha256")} {
		if _, err := os.Stat(d); errors.Is(err, fs.ErrNotExist) {
			s.dirs = append(s.dirs, d)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "blobs", "sha256"), 0o755); err != nil {
		return fmt.Errorf("image: writing layout %s: %w", dir, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "oci-layout")); errors.Is(err, fs.ErrNotExist) {
		if err := writeFileAtomic(ctx, filepath.Join(dir, "oci-layout"), func(w io.Writer) error {
			_, err := io.WriteString(w, ociLayoutFile)
			return err
		}); err != nil {
			return err
		}
		s.created = append(s.created, filepath.Join(dir, "oci-layout"))
	}
	descs, err := putEntries(ctx, s, a, o)
	if err != nil {
		return fmt.Errorf("image: writing layout %s: %w", dir, err)
	}
	existing.Manifests = mergeEntries(existing.Manifests, descs)
	raw, err := json.Marshal(existing)
	if err != nil {
		return fmt.Errorf("image: writing layout %s: %w", dir, err)
	}
	return writeFileAtomic(ctx, filepath.Join(dir, "index.json"), func(w io.Writer) error {
		_, err := w.Write(raw)
		return err
	})
}

// putEntries writes the blobs of a and of the WithEntry artifacts, and
// returns their index.json entries, named.
func putEntries(ctx context.Context, s blobSink, a Artifact, o *writeOptions) ([]v1.Descriptor, error) {
	entries := append([]entry{{o.refName, a}}, o.extra...)
	descs := make([]v1.Descriptor, 0, len(entries))
	for i, e := range entries {
		a := e.a
		if i > 0 {
			var err error
			if a, err = ToOCI(a); err != nil {
				return nil, fmt.Errorf("entry %s: %w", e.refName, err)
			}
		}
		desc, err := putArtifact(ctx, s, a)
		if err != nil {
			if i > 0 {
				return nil, fmt.Errorf("entry %s: %w", e.refName, err)
			}
			return nil, err
		}
		if e.refName != "" {
			desc.Annotations = map[string]string{RefNameAnnotation: e.refName}
		}
		descs = append(descs, desc)
	}
	return descs, nil
}

// mergeEntries adds entries to a layout's index.json entries: a named
// entry replaces the one of the same name; an unnamed one already there
// is not repeated.
func mergeEntries(existing, entries []v1.Descriptor) []v1.Descriptor {
	out := make([]v1.Descriptor, 0, len(existing)+len(entries))
	named := map[string]bool{}
	for _, d := range entries {
		named[d.Annotations[RefNameAnnotation]] = true
	}
	unnamed := map[v1.Hash]bool{}
	for _, d := range existing {
		ref := d.Annotations[RefNameAnnotation]
		if ref != "" && named[ref] {
			continue
		}
		if ref == "" {
			unnamed[d.Digest] = true
		}
		out = append(out, d)
	}
	for _, d := range entries {
		if d.Annotations[RefNameAnnotation] == "" && unnamed[d.Digest] {
			continue
		}
		out = append(out, d)
	}
	return out
}

// readLayoutIndex reads dir/index.json, or returns an empty index when dir
// has no layout yet. A non-empty dir without oci-layout is an error.
func readLayoutIndex(dir string) (*v1.IndexManifest, error) {
	empty := &v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{}}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) || err == nil && len(ents) == 0 {
		return empty, nil
	}
	if err != nil {
		return nil, fmt.Errorf("image: layout %s: %w", dir, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err != nil {
		return nil, fmt.Errorf("image: %s is not empty and not an OCI layout (no oci-layout file): %w", dir, err)
	}
	f, err := os.Open(filepath.Join(dir, "index.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return empty, nil
	}
	if err != nil {
		return nil, fmt.Errorf("image: layout %s: %w", dir, err)
	}
	defer f.Close()
	im, err := v1.ParseIndexManifest(f)
	if err != nil {
		return nil, fmt.Errorf("image: layout %s: index.json: %w", dir, err)
	}
	if im.Manifests == nil {
		im.Manifests = []v1.Descriptor{}
	}
	return im, nil
}

// dirSink writes blobs into a layout directory, remembering the files and
// directories it created so that a failed write can remove them.
type dirSink struct {
	dir     string
	created []string
	dirs    []string // blobs directories this write made, parents first
}

func (s *dirSink) blobPath(h v1.Hash) string {
	return filepath.Join(s.dir, "blobs", h.Algorithm, h.Hex)
}

func (s *dirSink) has(h v1.Hash) bool {
	_, err := os.Stat(s.blobPath(h))
	return err == nil
}

func (s *dirSink) put(ctx context.Context, h v1.Hash, size int64, open func() (io.ReadCloser, error)) error {
	if h.Algorithm != "sha256" {
		return fmt.Errorf("blob %s: unsupported digest algorithm", h)
	}
	p := s.blobPath(h)
	if fi, err := os.Stat(p); err == nil && fi.Size() == size {
		return nil
	}
	err := writeFileAtomic(ctx, p, func(w io.Writer) error {
		rc, err := open()
		if err != nil {
			return fmt.Errorf("blob %s: %w", h, err)
		}
		defer rc.Close()
		return copyBlob(ctx, w, rc, h, size)
	})
	if err != nil {
		return err
	}
	s.created = append(s.created, p)
	return nil
}

func (s *dirSink) rollback() {
	for _, p := range s.created {
		os.Remove(p)
	}
	// Left behind, an empty blobs/ would make dir "not an OCI layout"
	// for the next write.
	for _, d := range slices.Backward(s.dirs) {
		os.Remove(d)
	}
}
