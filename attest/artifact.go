package attest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// MediaTypeEmpty is the media type of the empty config ("{}") of OCI
// artifacts, per the image specification's guidance for artifacts.
const MediaTypeEmpty types.MediaType = "application/vnd.oci.empty.v1+json"

// Annotations set on the artifacts.
const (
	// AnnotationCreated is the artifact manifest's creation time.
	AnnotationCreated = "org.opencontainers.image.created"
	// AnnotationTitle names the payload layer, as oras names files.
	AnnotationTitle = "org.opencontainers.image.title"
	// AnnotationPredicateType is the in-toto predicate type of a
	// statement layer, as BuildKit sets it.
	AnnotationPredicateType = "in-toto.io/predicate-type"
)

var emptyJSON = []byte("{}")

// NewArtifact returns an OCI 1.1 artifact manifest, as a go-containerregistry
// image, whose subject is the manifest subject names: artifactType
// artifactType, the empty config, and payload as its one layer of media
// type artifactType, with layerAnnotations. The manifest is annotated with
// its created time. Its digest depends only on the arguments.
func NewArtifact(subject v1.Descriptor, artifactType string, payload []byte, created time.Time, layerAnnotations map[string]string) (v1.Image, error) {
	subject, err := checkSubject(subject)
	if err != nil {
		return nil, err
	}
	if artifactType == "" {
		return nil, fmt.Errorf("%w: artifact without artifactType", ErrInvalidFacts)
	}
	layer := static.NewLayer(payload, types.MediaType(artifactType))
	ld, err := partial.Descriptor(layer)
	if err != nil {
		return nil, err
	}
	ld.Annotations = maps.Clone(layerAnnotations)
	cfgHash, cfgSize, err := v1.SHA256(bytes.NewReader(emptyJSON))
	if err != nil {
		return nil, err
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  artifactType,
		Config:        v1.Descriptor{MediaType: MediaTypeEmpty, Digest: cfgHash, Size: cfgSize, Data: emptyJSON},
		Layers:        []v1.Descriptor{*ld},
		Subject:       &subject,
		Annotations:   map[string]string{AnnotationCreated: created.UTC().Truncate(time.Second).Format(time.RFC3339)},
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("attest: encoding artifact manifest: %w", err)
	}
	return partial.CompressedToImage(&artifact{manifest: raw, layer: layer, layerDigest: ld.Digest})
}

// artifact is the core of an artifact manifest for partial.CompressedToImage.
type artifact struct {
	manifest    []byte
	layer       v1.Layer
	layerDigest v1.Hash
}

func (a *artifact) RawConfigFile() ([]byte, error)      { return emptyJSON, nil }
func (a *artifact) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (a *artifact) RawManifest() ([]byte, error)        { return a.manifest, nil }

func (a *artifact) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if h == a.layerDigest {
		return a.layer, nil
	}
	return nil, fmt.Errorf("attest: artifact has no blob %s", h)
}

// Payload returns what [NewArtifact] put in artifact: its artifactType
// (the config's media type for an artifact that names none, as older
// tools write them) and the content of its one layer, read into memory.
// It reads the artifacts a registry lists as referrers of an image (see
// registry.Referrers) or those of an OCI layout. An image of other than
// one layer is an error wrapping [ErrNotArtifact].
func Payload(artifact v1.Image) (artifactType string, payload []byte, err error) {
	m, err := artifact.Manifest()
	if err != nil {
		return "", nil, fmt.Errorf("attest: reading artifact manifest: %w", err)
	}
	if len(m.Layers) != 1 {
		return "", nil, fmt.Errorf("%w: %d layers", ErrNotArtifact, len(m.Layers))
	}
	artifactType = m.ArtifactType
	if artifactType == "" {
		artifactType = string(m.Config.MediaType)
	}
	l, err := artifact.LayerByDigest(m.Layers[0].Digest)
	if err != nil {
		return "", nil, fmt.Errorf("attest: artifact payload: %w", err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return "", nil, fmt.Errorf("attest: artifact payload: %w", err)
	}
	defer rc.Close()
	if payload, err = io.ReadAll(rc); err != nil {
		return "", nil, fmt.Errorf("attest: artifact payload: %w", err)
	}
	return artifactType, payload, nil
}

// Descriptor describes an artifact for an index of referrers, with its
// artifactType and annotations, as the distribution specification's
// referrers API lists it.
func Descriptor(artifact v1.Image) (v1.Descriptor, error) {
	d, err := partial.Descriptor(artifact)
	if err != nil {
		return v1.Descriptor{}, err
	}
	m, err := artifact.Manifest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	d.ArtifactType = m.ArtifactType
	if d.ArtifactType == "" {
		d.ArtifactType = string(m.Config.MediaType)
	}
	d.Annotations = m.Annotations
	d.Platform = nil
	return *d, nil
}

// ForImage returns the artifacts of img: its SBOM ([SBOM]) and its
// provenance ([Provenance]), each an artifact ([NewArtifact]) whose
// subject is img, created at facts.Created.
func ForImage(img v1.Image, facts Facts) ([]v1.Image, error) {
	d, err := partial.Descriptor(img)
	if err != nil {
		return nil, fmt.Errorf("attest: describing image: %w", err)
	}
	return forSubject(*d, facts)
}

// ForIndex returns the artifacts of every image of idx (not of nested
// indexes, nor of entries that are not images): an SBOM and a provenance
// each, with the facts that facts returns for the image's descriptor
// (which carries its platform).
func ForIndex(idx v1.ImageIndex, facts func(v1.Descriptor) (Facts, error)) ([]v1.Image, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("attest: reading index: %w", err)
	}
	var all []v1.Image
	for _, d := range im.Manifests {
		if !d.MediaType.IsImage() {
			continue
		}
		f, err := facts(d)
		if err != nil {
			return nil, fmt.Errorf("attest: facts of %s: %w", d.Digest, err)
		}
		arts, err := forSubject(d, f)
		if err != nil {
			return nil, fmt.Errorf("attest: image %s: %w", d.Digest, err)
		}
		all = append(all, arts...)
	}
	return all, nil
}

func forSubject(d v1.Descriptor, facts Facts) ([]v1.Image, error) {
	f, err := facts.normalized()
	if err != nil {
		return nil, err
	}
	sbom, err := SBOM(d, f)
	if err != nil {
		return nil, err
	}
	prov, err := Provenance(d, f)
	if err != nil {
		return nil, err
	}
	a, err := NewArtifact(d, MediaTypeSPDX, sbom, f.Created, map[string]string{AnnotationTitle: "sbom.spdx.json"})
	if err != nil {
		return nil, err
	}
	b, err := NewArtifact(d, MediaTypeInToto, prov, f.Created, map[string]string{
		AnnotationTitle:         "provenance.intoto.json",
		AnnotationPredicateType: PredicateSLSAProvenance,
	})
	if err != nil {
		return nil, err
	}
	return []v1.Image{a, b}, nil
}
