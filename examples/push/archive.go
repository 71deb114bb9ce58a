package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/registry"
)

// The kinds of archive -image may be, told apart by content.
const (
	ociTarball    = "OCI tarball"
	dockerTarball = "docker tarball"
)

// open reads the image or index of -image: an OCI layout directory, an OCI
// tarball or a `docker save` tarball (whatever the file is called), picking
// the entry named refName, or the only one. An OCI layout's entries are
// named by their org.opencontainers.image.ref.name, a docker tarball's by
// their repo tags. An OCI layout or tarball is returned too (nil for a
// docker tarball), for the referrers it may hold beside the artifact.
// Call the returned function when done with the artifact.
func open(file, refName string) (registry.Artifact, *image.Layout, func(), error) {
	a, l, done, err := openFile(file, refName)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("-image %s: %w", file, err)
	}
	return a, l, done, nil
}

func openFile(file, refName string) (registry.Artifact, *image.Layout, func(), error) {
	fi, err := os.Stat(file)
	if err != nil {
		return nil, nil, nil, err
	}
	var l *image.Layout
	if fi.IsDir() {
		l, err = image.ReadOCILayout(file)
	} else {
		var kind string
		if kind, err = archiveKind(file); err != nil {
			return nil, nil, nil, err
		}
		if kind == dockerTarball {
			img, err := openDockerTarball(file, refName)
			return img, nil, func() {}, err
		}
		l, err = image.ReadOCITarball(file)
	}
	if err != nil {
		return nil, nil, nil, err
	}
	a, err := pick(l, refName)
	if err != nil {
		l.Close()
		return nil, nil, nil, err
	}
	return a, l, func() { l.Close() }, nil
}

// archiveKind tells an OCI tarball (it has an oci-layout file; `docker
// save` of Docker 25 and later writes one, beside manifest.json) from a
// docker tarball (manifest.json and no oci-layout). It reads the headers
// only.
func archiveKind(file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	manifest := false
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("not a tar archive: %w", err)
		}
		switch path.Clean(h.Name) {
		case "oci-layout":
			return ociTarball, nil
		case "manifest.json":
			manifest = true
		}
	}
	if !manifest {
		return "", fmt.Errorf("neither an OCI tarball (no oci-layout) nor a docker tarball (no manifest.json): %w", image.ErrNotFound)
	}
	return dockerTarball, nil
}

// openDockerTarball reads the image tagged refName of a `docker save`
// tarball, or its only image.
func openDockerTarball(file, refName string) (v1.Image, error) {
	opener := func() (io.ReadCloser, error) { return os.Open(file) }
	m, err := tarball.LoadManifest(opener)
	if err != nil {
		return nil, err
	}
	var tags []string
	for _, d := range m {
		for _, t := range d.RepoTags {
			tags = append(tags, fmt.Sprintf("%q", t))
		}
	}
	var tag *name.Tag
	switch {
	case refName != "":
		t, err := name.NewTag(refName)
		if err != nil {
			return nil, fmt.Errorf("-name %q is not a tag: %w", refName, err)
		}
		if !slices.ContainsFunc(m, func(d tarball.Descriptor) bool { return hasTag(d, t) }) {
			return nil, fmt.Errorf("no image tagged %q (tags: %s): %w", refName, strings.Join(tags, ", "), image.ErrNotFound)
		}
		tag = &t
	case len(m) == 0:
		return nil, fmt.Errorf("manifest.json lists no image: %w", image.ErrNotFound)
	case len(m) > 1:
		return nil, fmt.Errorf("%w: %d images (tags: %s); pick one with -name", image.ErrAmbiguous, len(m), strings.Join(tags, ", "))
	}
	img, err := tarball.Image(opener, tag)
	if err != nil {
		return nil, err
	}
	return img, checkGzipOnly(img)
}

func hasTag(d tarball.Descriptor, t name.Tag) bool {
	return slices.ContainsFunc(d.RepoTags, func(s string) bool {
		rt, err := name.NewTag(s)
		return err == nil && rt.Name() == t.Name()
	})
}

// zstdMagic starts every zstd frame.
var zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}

// checkGzipOnly refuses zstd layers: go-containerregistry gives every
// compressed layer of a docker tarball the Docker (gzip) media type, which
// would misname them in the registry.
func checkGzipOnly(img v1.Image) error {
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	for i, l := range layers {
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		head := make([]byte, len(zstdMagic))
		_, err = io.ReadFull(rc, head)
		rc.Close()
		if err == nil && bytes.Equal(head, zstdMagic) {
			return fmt.Errorf("layer %d is zstd-compressed, which a docker tarball cannot say; write an OCI tarball instead", i)
		}
	}
	return nil
}
