package image

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Annotations set on images built on a base that came from a registry.
const (
	BaseNameAnnotation   = "org.opencontainers.image.base.name"
	BaseDigestAnnotation = "org.opencontainers.image.base.digest"
)

// referencer is implemented by images and indexes pulled from a registry
// (registry.Pull and registry.PullIndex): the reference the user gave.
type referencer interface {
	Reference() name.Reference
}

// Build returns base with layers added and its config edited by opts. A nil
// base means scratch: an empty OCI image (OCI manifest and config media
// types) for linux/amd64, or the platform of [WithPlatform]. For a non-nil
// base the platform is the base's.
//
// The base's layers are never read nor re-compressed: the new image refers
// to the very same blobs. The added layers are computed (digest, diff ID,
// size) during Build, so their errors surface here. Cancelling ctx stops
// Build between layers and, for the layer package's layers (which have a
// Compute(ctx) method), in the middle of building one.
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
// History: one entry per added layer, whose created_by is the text of
// [WithLayerHistory], else the layer's CreatedBy() when it has that method
// (the layers of the layer package do), else "stevedore: layer sha256:..."; plus, with
// [WithConfigHistory], empty_layer entries for config edits. The base's
// history is kept, and padded or trimmed so that its entries without
// empty_layer still match the base's layers one to one: a missing entry is
// added with the comment "stevedore: no history in base for this layer",
// and surplus entries become empty_layer entries.
//
// When base implements Reference() name.Reference (as the images of
// registry.Pull do) and the result is OCI, the manifest gets the
// annotations org.opencontainers.image.base.name (the reference's full
// name) and org.opencontainers.image.base.digest (the base's digest). The
// base manifest's own annotations are not carried over.
func Build(ctx context.Context, base v1.Image, opts ...Option) (v1.Image, error) {
	o, err := makeOptions(opts)
	if err != nil {
		return nil, err
	}
	if err := o.forBuild("Build", false); err != nil {
		return nil, err
	}
	var p plan
	if r, ok := base.(referencer); ok && base != nil {
		p.baseName = r.Reference().Name()
	}
	return build(ctx, base, o, p)
}

// plan holds what BuildIndex decides for each of its images.
type plan struct {
	platform    *v1.Platform // scratch platform, overriding o.platform
	extra       []v1.Layer   // per-platform layers, after o.layers
	workDir     v1.Layer     // the working-directory layer, shared by platforms
	forceOCI    bool
	forceDocker bool   // the index is Docker: so is every image that can be
	baseName    string // base reference name for the base annotations, or ""
}

// addedLayer is a layer being added, with what Build computed about it.
type addedLayer struct {
	l       v1.Layer
	kind    layerKind
	mt      types.MediaType
	digest  v1.Hash
	diffID  v1.Hash
	size    int64
	history string
}

func build(ctx context.Context, base v1.Image, o *options, p plan) (v1.Image, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var (
		cf          *v1.ConfigFile
		baseFam     = familyOCI
		baseDescs   []v1.Descriptor
		baseLayers  []v1.Layer
		created     time.Time
		baseWorkDir string
	)
	if base == nil {
		plat := v1.Platform{OS: "linux", Architecture: "amd64"}
		if p.platform != nil {
			plat = *p.platform
		} else if o.platform != nil {
			plat = *o.platform
		}
		cf = &v1.ConfigFile{
			OS:           plat.OS,
			Architecture: plat.Architecture,
			Variant:      plat.Variant,
			OSVersion:    plat.OSVersion,
			OSFeatures:   plat.OSFeatures,
			RootFS:       v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{}},
		}
		created = time.Unix(0, 0).UTC()
	} else {
		var err error
		cf, baseFam, baseDescs, baseLayers, err = readBase(base)
		if err != nil {
			return nil, err
		}
		if want := o.platform; want != nil {
			if have := cf.Platform(); have == nil || !have.Satisfies(*want) {
				return nil, fmt.Errorf("image: WithPlatform(%q), base is %s: %w", want.String(), platformString(have), ErrPlatformMismatch)
			}
		}
		created = cf.Created.Time.UTC()
		if cf.Created.IsZero() {
			created = time.Unix(0, 0).UTC()
		}
		baseWorkDir = cf.Config.WorkingDir
	}
	if sde, err := sourceDateEpoch(); err != nil {
		return nil, err
	} else if sde != nil {
		created = *sde
	}
	if o.created != nil {
		created = *o.created
	}

	// The layers to add: working directory, shared, per-platform.
	var layers []v1.Layer
	var fixedHistory []string
	if o.workDir != "" && o.workDir != "/" && path.Clean("/"+baseWorkDir) != o.workDir {
		wl, err := workDirLayer(o.workDir, created)
		if err != nil {
			return nil, err
		}
		layers = append(layers, wl)
		fixedHistory = append(fixedHistory, "stevedore: workdir "+o.workDir)
	}
	layers = append(layers, o.layers...)
	layers = append(layers, p.extra...)
	adds := make([]addedLayer, len(layers))
	for i, l := range layers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// Layers that can build under a caller's context (the layer
		// package's) do so now, so cancelling ctx stops their build too.
		if c, ok := l.(interface{ Compute(context.Context) error }); ok {
			if err := c.Compute(ctx); err != nil {
				return nil, fmt.Errorf("image: added layer %d: %w", i, err)
			}
		}
		a, err := inspectLayer(l)
		if err != nil {
			return nil, fmt.Errorf("image: added layer %d: %w", i, err)
		}
		if i < len(fixedHistory) {
			a.history = fixedHistory[i]
		}
		adds[i] = a
	}

	// The family of the result.
	fam := baseFam
	if p.forceDocker {
		fam = familyDocker
	}
	if o.oci || p.forceOCI {
		fam = familyOCI
	}
	baseKinds := make([]layerKind, len(baseDescs))
	for i, d := range baseDescs {
		k, ok := kindOf(d.MediaType)
		if !ok {
			return nil, fmt.Errorf("image: base layer %d (%s) has media type %q: %w", i, d.Digest, d.MediaType, ErrUnsupportedBase)
		}
		baseKinds[i] = k
		if _, ok := fam.layerType(k); !ok {
			fam = familyOCI
		}
	}
	for _, a := range adds {
		if _, ok := fam.layerType(a.kind); !ok {
			fam = familyOCI
		}
	}

	// Layers and descriptors of the result.
	n := len(baseDescs) + len(adds)
	outLayers := make([]v1.Layer, 0, n)
	descs := make([]v1.Descriptor, 0, n)
	digests := make([]v1.Hash, 0, n)
	for i, d := range baseDescs {
		mt, _ := fam.layerType(baseKinds[i])
		// Compare with what the layer object reports, which can differ from
		// the manifest (ggcr's mutate.Addendum.MediaType changes only the
		// descriptor): the result's layers must agree with its manifest.
		have, err := baseLayers[i].MediaType()
		if err != nil {
			have = ""
		}
		outLayers = append(outLayers, retype(baseLayers[i], have, mt))
		d.MediaType = mt
		descs = append(descs, d)
		digests = append(digests, d.Digest)
	}
	diffIDs := append([]v1.Hash{}, cf.RootFS.DiffIDs...)
	for _, a := range adds {
		mt, _ := fam.layerType(a.kind)
		outLayers = append(outLayers, retype(a.l, a.mt, mt))
		descs = append(descs, v1.Descriptor{MediaType: mt, Size: a.size, Digest: a.digest})
		digests = append(digests, a.digest)
		diffIDs = append(diffIDs, a.diffID)
	}

	// Config.
	st := &editState{cf: cf}
	for _, e := range o.edits {
		if err := e.apply(st); err != nil {
			return nil, err
		}
	}
	cf.Created = v1.Time{Time: created}
	cf.RootFS = v1.RootFS{Type: "layers", DiffIDs: diffIDs}
	history := alignHistory(cf.History, len(baseDescs))
	if o.historySet {
		own, err := ownHistory(o.history, len(adds), cf.Created)
		if err != nil {
			return nil, err
		}
		history = append(history, own...)
	} else {
		history = append(history, defaultHistory(adds, o, cf.Created)...)
	}
	if len(history) == 0 {
		history = nil
	}
	cf.History = history
	rawConfig, err := json.Marshal(cf)
	if err != nil {
		return nil, fmt.Errorf("image: encoding config: %w", err)
	}
	cfgDigest, cfgSize, err := v1.SHA256(bytesReader(rawConfig))
	if err != nil {
		return nil, err
	}

	// Annotations.
	var anns map[string]string
	if fam == familyDocker && len(o.annotations) > 0 {
		return nil, ErrAnnotationsNeedOCI
	}
	if fam == familyOCI {
		anns = map[string]string{}
		if p.baseName != "" && base != nil {
			d, err := base.Digest()
			if err != nil {
				return nil, fmt.Errorf("image: digest of base %s: %w", p.baseName, err)
			}
			anns[BaseNameAnnotation] = p.baseName
			anns[BaseDigestAnnotation] = d.String()
		}
		for k, v := range o.annotations {
			anns[k] = v
		}
		if len(anns) == 0 {
			anns = nil
		}
	}

	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     fam.manifest(),
		Config:        v1.Descriptor{MediaType: fam.config(), Size: cfgSize, Digest: cfgDigest},
		Layers:        descs,
		Annotations:   anns,
	}
	rawManifest, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("image: encoding manifest: %w", err)
	}
	return newBuiltImage(fam.manifest(), rawManifest, rawConfig, outLayers, digests, diffIDs)
}

// defaultHistory is Build's own history for the added layers and, with
// WithConfigHistory, the config edits.
func defaultHistory(adds []addedLayer, o *options, created v1.Time) []v1.History {
	var h []v1.History
	for _, a := range adds {
		cb := a.history
		if cb == "" {
			cb = "stevedore: layer " + a.digest.String()
		}
		h = append(h, v1.History{Created: created, CreatedBy: cb})
	}
	if o.configHistory {
		for _, e := range o.edits {
			h = append(h, v1.History{Created: created, CreatedBy: e.history, EmptyLayer: true})
		}
	}
	return h
}

// readBase reads what Build needs of a base: its config, family, layer
// descriptors and layer objects. No layer is read.
func readBase(base v1.Image) (*v1.ConfigFile, family, []v1.Descriptor, []v1.Layer, error) {
	mt, err := base.MediaType()
	if err != nil {
		return nil, 0, nil, nil, fmt.Errorf("image: media type of base: %w", err)
	}
	fam, err := manifestFamily(mt)
	if err != nil {
		return nil, 0, nil, nil, err
	}
	m, err := base.Manifest()
	if err != nil {
		return nil, 0, nil, nil, fmt.Errorf("image: manifest of base: %w", err)
	}
	if !m.Config.MediaType.IsConfig() {
		return nil, 0, nil, nil, fmt.Errorf("image: base config has media type %q, not an image config: %w", m.Config.MediaType, ErrUnsupportedBase)
	}
	cf, err := base.ConfigFile()
	if err != nil {
		return nil, 0, nil, nil, fmt.Errorf("image: config of base: %w", err)
	}
	cf = cf.DeepCopy()
	layers, err := base.Layers()
	if err != nil {
		return nil, 0, nil, nil, fmt.Errorf("image: layers of base: %w", err)
	}
	if len(layers) != len(m.Layers) || len(cf.RootFS.DiffIDs) != len(m.Layers) {
		return nil, 0, nil, nil, fmt.Errorf("image: base has %d manifest layers, %d layers and %d diff_ids: %w",
			len(m.Layers), len(layers), len(cf.RootFS.DiffIDs), ErrUnsupportedBase)
	}
	return cf, fam, m.Layers, layers, nil
}

// inspectLayer computes what Build needs of an added layer.
func inspectLayer(l v1.Layer) (addedLayer, error) {
	mt, err := l.MediaType()
	if err != nil {
		return addedLayer{}, fmt.Errorf("media type: %w", err)
	}
	k, ok := kindOf(mt)
	if !ok {
		return addedLayer{}, fmt.Errorf("media type %q is not a layer media type", mt)
	}
	d, err := l.Digest()
	if err != nil {
		return addedLayer{}, fmt.Errorf("digest: %w", err)
	}
	diffID, err := l.DiffID()
	if err != nil {
		return addedLayer{}, fmt.Errorf("layer %s: diff ID: %w", d, err)
	}
	size, err := l.Size()
	if err != nil {
		return addedLayer{}, fmt.Errorf("layer %s: size: %w", d, err)
	}
	return addedLayer{l: l, kind: k, mt: mt, digest: d, diffID: diffID, size: size, history: createdBy(l)}, nil
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

func platformString(p *v1.Platform) string {
	if p == nil {
		return "without platform"
	}
	return p.String()
}
