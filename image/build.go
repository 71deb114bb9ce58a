package image

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stevedore-dev/stevedore/internal/mediatype"
)

// Annotations set on images built on a base that came from a registry.
const (
	BaseNameAnnotation   = "org.opencontainers.image.base.name"
	BaseDigestAnnotation = "org.opencontainers.image.base.digest"
)

// Build returns base with layers added and its config edited by opts. A nil
// base means scratch: an empty OCI image (OCI manifest and config media
// types) for linux/amd64, or the platform of [WithPlatform]. For a non-nil
// base the platform is the base's.
//
// The base's layers are never re-compressed: the new image refers to the
// very same blobs. The added layers are computed (digest, diff ID, size)
// during Build, so their errors surface here. Cancelling ctx stops Build
// between layers and, for the layers of package layer, in the middle of
// building one.
//
// Respecting the base: each layer of package layer is placed on the file
// tree of the image below it (the base and the layers added before it;
// see [Tree] and layer.Placeable), as `docker build`'s COPY respects the
// image it copies into: directories the base has keep the base's mode and
// owner (a 1777 /tmp stays 1777), and paths under a directory the base
// makes a symlink (/lib -> usr/lib, /var/run -> /run) land under the
// link's target while the link survives. The base's layers are read (or
// their index taken from [WithCache]) only when an added layer is built,
// not when it comes from the layer cache. An eStargz or zstd:chunked base
// layer (its descriptor names the digest of a table of contents) is
// indexed from that table of contents, checked against the digest,
// instead of being decompressed and having every file hashed: a blob of
// an OCI layout is read in place (its last few hundred KB), a registry's
// is still downloaded, to an unlinked temp file, but neither decompressed
// nor hashed. When the table of contents cannot be used, the layer is
// decompressed as any other. Other layers (go-containerregistry's
// own, say) are added as they are. A layer placed on a base can differ
// from the same layer used alone, whose digest then differs from the one
// in the image.
//
// Media types: the result keeps the family of the base manifest. On an OCI
// base, added layers get OCI layer types; on a Docker schema 2 base, Docker
// types; the compression (gzip, zstd, none) is the one the layer's own
// media type names, and the bytes are unchanged. A zstd layer, which Docker
// types cannot express, or [WithOCIMediaTypes] turns a Docker base into an
// OCI image: manifest, config and every base layer are re-typed, with the
// same bytes and digests. A base whose layers are of the other family than
// its manifest is repaired the same way. So no image Build returns mixes
// the two families.
//
// Layer annotations: an added layer's descriptor carries the
// annotations of the layer, those layer.Annotated gives (the layers of
// package layer: an eStargz or zstd:chunked layer's table of contents
// digest and uncompressed size, which a lazy puller needs), else those of
// the descriptor go-containerregistry's partial.Descriptor finds (a layer
// of a pulled image keeps its manifest's). The base's layer descriptors
// keep theirs, re-typed or not. A Docker schema 2 result keeps them too:
// its specification has no descriptor annotations, but registries,
// containerd and its stargz snapshotter keep and read them (so did
// go-containerregistry's eStargz layers); [WithOCIMediaTypes] makes an
// image where every OCI tool reads them.
//
// History: one entry per added layer, whose created_by is the text of
// [WithLayerHistory], else the layer's CreatedBy() when it has that method
// (the layers of package layer do, see layer.Describer), else "stevedore:
// layer sha256:..."; plus, with [WithConfigHistory], empty_layer entries
// for config edits. The base's history is kept, and padded or trimmed so
// that its entries without empty_layer still match the base's layers one
// to one: a missing entry is added with the comment "stevedore: no history
// in base for this layer", and surplus entries become empty_layer entries.
//
// An image must have a layer (the image spec's JSON schema says so): an
// image from scratch with no layer gets one empty layer.
//
// When base implements [Referenced] (as the images of registry.Pull do)
// and the result is OCI, the manifest gets the annotations
// org.opencontainers.image.base.name (the reference's full name) and
// org.opencontainers.image.base.digest (the base's digest). The base
// manifest's own annotations are not carried over.
func Build(ctx context.Context, base v1.Image, opts ...Option) (v1.Image, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	b, err := readBase(base, o.platform)
	if err != nil {
		return nil, err
	}
	return build(ctx, b, o, plan{ix: o.indexer()})
}

// plan holds what BuildIndex decides for each of its images.
type plan struct {
	extra  []v1.Layer        // per-platform layers, after o.layers
	family *mediatype.Family // the index's family, forced on every image
	ix     *indexer
}

func build(ctx context.Context, b *baseImage, o *options, p plan) (v1.Image, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("image: build: %w", err)
	}
	created, err := b.created(o)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	toAdd, err := layersToAdd(b, o, p.extra, created)
	if err != nil {
		return nil, err
	}
	fam, err := chooseFamily(b, o, p, toAdd)
	if err != nil {
		return nil, err
	}
	adds, err := addLayers(ctx, b, o, fam, toAdd, p.ix)
	if err != nil {
		return nil, err
	}
	cf, err := editConfig(b, o, created, adds)
	if err != nil {
		return nil, err
	}
	rawConfig, err := json.Marshal(cf)
	if err != nil {
		return nil, fmt.Errorf("image: encoding config: %w", err)
	}
	anns, err := annotations(fam, b.name, b.img, o.annotations)
	if err != nil {
		return nil, err
	}
	img, err := assemble(fam, b, adds, rawConfig, anns)
	if err != nil {
		return nil, err
	}
	img.made = &made{base: b.img, baseName: b.name, created: created, platform: platformOf(cf), config: cf.Config}
	for _, a := range adds {
		img.made.added = append(img.made.added, unwrap(a.l))
	}
	return img, nil
}

// fits reports whether fam has a layer media type for every kind (Docker
// has none for zstd).
func fits(fam mediatype.Family, kinds []mediatype.Kind) bool {
	for _, k := range kinds {
		if _, ok := fam.Layer(k); !ok {
			return false
		}
	}
	return true
}

// chooseFamily decides the media type family of the result before any
// layer is built: the base's (or the index's), OCI when asked for, and OCI
// when a layer's kind has no Docker type (zstd).
func chooseFamily(b *baseImage, o *options, p plan, toAdd []pendingLayer) (mediatype.Family, error) {
	fam := b.family
	if p.family != nil {
		fam = *p.family
	}
	if o.oci {
		fam = mediatype.OCI
	}
	kinds := append([]mediatype.Kind(nil), b.kinds...)
	for _, a := range toAdd {
		kinds = append(kinds, a.kind)
	}
	if !fits(fam, kinds) {
		fam = mediatype.OCI
	}
	if p.family != nil && fam != *p.family {
		return 0, fmt.Errorf("image: %s image in a %s index", fam, *p.family)
	}
	if fam == mediatype.Docker && len(o.annotations) > 0 {
		return 0, ErrAnnotationsNeedOCI
	}
	return fam, nil
}

// editConfig applies the config edits and records the layers and history.
func editConfig(b *baseImage, o *options, created time.Time, adds []addedLayer) (*v1.ConfigFile, error) {
	cf := b.cf.DeepCopy()
	st := &editState{cf: cf}
	for _, e := range o.edits {
		if err := e.apply(st); err != nil {
			return nil, err
		}
	}
	cf.Created = v1.Time{Time: created}
	diffIDs := append([]v1.Hash{}, b.cf.RootFS.DiffIDs...)
	for _, a := range adds {
		diffIDs = append(diffIDs, a.diffID)
	}
	history := alignHistory(cf.History, len(b.descs))
	added, err := addedHistory(o, adds, cf.Created)
	if err != nil {
		return nil, err
	}
	history = append(history, added...)
	cf.RootFS = v1.RootFS{Type: "layers", DiffIDs: diffIDs}
	cf.History = nil
	if len(history) > 0 {
		cf.History = history
	}
	return cf, nil
}

// addedHistory is the history after the base's: WithHistory's entries,
// or one per added layer and, with WithConfigHistory, one per config edit.
func addedHistory(o *options, adds []addedLayer, created v1.Time) ([]v1.History, error) {
	var h []v1.History
	if o.historySet {
		var auto []v1.History
		n := 0
		for _, a := range adds {
			if a.auto {
				auto = append(auto, v1.History{Created: created, CreatedBy: a.history})
			} else {
				n++
			}
		}
		own, err := ownHistory(o.history, n, created)
		if err != nil {
			return nil, err
		}
		return append(own, auto...), nil
	}
	for _, a := range adds {
		h = append(h, v1.History{Created: created, CreatedBy: a.history})
	}
	if o.configHistory {
		for _, e := range o.edits {
			h = append(h, v1.History{Created: created, CreatedBy: e.history, EmptyLayer: true})
		}
	}
	return h, nil
}

// annotations are the manifest's: the base's name and digest, then the
// user's, for OCI results only.
func annotations(fam mediatype.Family, baseName string, base interface{ Digest() (v1.Hash, error) }, user map[string]string) (map[string]string, error) {
	if fam != mediatype.OCI {
		return nil, nil
	}
	anns := map[string]string{}
	if baseName != "" && base != nil {
		d, err := base.Digest()
		if err != nil {
			return nil, fmt.Errorf("image: digest of base %s: %w", baseName, err)
		}
		anns[BaseNameAnnotation] = baseName
		anns[BaseDigestAnnotation] = d.String()
	}
	for k, v := range user {
		anns[k] = v
	}
	if len(anns) == 0 {
		return nil, nil
	}
	return anns, nil
}

// assemble writes the manifest of the result.
func assemble(fam mediatype.Family, b *baseImage, adds []addedLayer, rawConfig []byte, anns map[string]string) (*builtImage, error) {
	n := len(b.descs) + len(adds)
	layers := make([]v1.Layer, 0, n)
	descs := make([]v1.Descriptor, 0, n)
	for i, d := range b.descs {
		mt, _ := fam.Layer(b.kinds[i])
		// Compare with what the layer object reports, which can differ from
		// the manifest (ggcr's mutate.Addendum.MediaType changes only the
		// descriptor): the result's layers must agree with its manifest.
		have, err := b.layers[i].MediaType()
		if err != nil {
			have = ""
		}
		layers = append(layers, retype(b.layers[i], have, mt))
		d.MediaType = mt
		descs = append(descs, d)
	}
	for _, a := range adds {
		l, mt := a.inFamily(fam)
		layers = append(layers, l)
		descs = append(descs, a.descriptor(mt))
	}
	cfgDigest, cfgSize, err := v1.SHA256(bytes.NewReader(rawConfig))
	if err != nil {
		return nil, err
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     fam.Manifest(),
		Config:        v1.Descriptor{MediaType: fam.Config(), Size: cfgSize, Digest: cfgDigest},
		Layers:        descs,
		Annotations:   anns,
	}
	rawManifest, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("image: encoding manifest: %w", err)
	}
	return newBuiltImage(fam.Manifest(), rawManifest, rawConfig, layers)
}

// platformOf is the platform a config states.
func platformOf(cf *v1.ConfigFile) v1.Platform {
	if p := cf.Platform(); p != nil {
		return *p
	}
	return v1.Platform{}
}

// alignHistory returns base history whose non-empty entries number exactly
// layers: missing ones are added, surplus ones (the last) marked empty.
func alignHistory(h []v1.History, layers int) []v1.History {
	out := append([]v1.History{}, h...)
	nonEmpty := 0
	for _, e := range out {
		if !e.EmptyLayer {
			nonEmpty++
		}
	}
	for i := len(out) - 1; i >= 0 && nonEmpty > layers; i-- {
		if !out[i].EmptyLayer {
			out[i].EmptyLayer = true
			nonEmpty--
		}
	}
	for ; nonEmpty < layers; nonEmpty++ {
		out = append(out, v1.History{Comment: "stevedore: no history in base for this layer"})
	}
	return out
}
