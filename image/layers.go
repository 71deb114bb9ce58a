package image

import (
	"context"
	"fmt"
	"path"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/stevedore-dev/stevedore/internal/mediatype"
	"github.com/stevedore-dev/stevedore/layer"
)

// pendingLayer is a layer to add, before it is placed and computed.
type pendingLayer struct {
	l       v1.Layer
	kind    mediatype.Kind
	mt      types.MediaType
	history string // fixed created_by text, or "" for the layer's own
	// auto: the empty layer of an image that would have none, which
	// WithHistory's entries do not count.
	auto bool
}

// addedLayer is a layer added, with what Build computed about it.
type addedLayer struct {
	pendingLayer
	digest, diffID v1.Hash
	size           int64
	annotations    map[string]string
}

// descriptor is the layer's manifest descriptor, with media type mt.
func (a addedLayer) descriptor(mt types.MediaType) v1.Descriptor {
	return v1.Descriptor{MediaType: mt, Size: a.size, Digest: a.digest, Annotations: a.annotations}
}

// inFamily returns the layer as an image of family fam lists it:
// re-typed for fam, and that media type.
func (a addedLayer) inFamily(fam mediatype.Family) (v1.Layer, types.MediaType) {
	mt, _ := fam.Layer(a.kind)
	return retype(a.l, a.mt, mt), mt
}

// layersToAdd lists the layers Build adds, in order: the working
// directory's, the shared ones, the platform's; and an empty layer when
// the image would have none.
func layersToAdd(b *baseImage, o *options, extra []v1.Layer, created time.Time) ([]pendingLayer, error) {
	var ls []v1.Layer
	var fixed []string
	if o.workDir != "" && o.workDir != "/" && path.Clean("/"+b.cf.Config.WorkingDir) != o.workDir {
		wl, err := workDirLayer(o.workDir, created, o)
		if err != nil {
			return nil, err
		}
		ls, fixed = append(ls, wl), append(fixed, "stevedore: workdir "+o.workDir)
	}
	ls = append(ls, o.layers...)
	ls = append(ls, extra...)
	if len(ls) == 0 && len(b.descs) == 0 && !o.noEmptyLayer {
		el, err := emptyLayer(created)
		if err != nil {
			return nil, err
		}
		ls, fixed = append(ls, el), append(fixed, emptyLayerHistory)
	}
	out := make([]pendingLayer, len(ls))
	for i, l := range ls {
		mt, err := l.MediaType()
		if err != nil {
			return nil, fmt.Errorf("image: added layer %d: media type: %w", i, err)
		}
		k, ok := mediatype.LayerKind(mt)
		if !ok {
			return nil, fmt.Errorf("image: added layer %d: media type %q is not a layer media type", i, mt)
		}
		out[i] = pendingLayer{l: l, kind: k, mt: mt}
		if i < len(fixed) {
			out[i].history = fixed[i]
			out[i].auto = fixed[i] == emptyLayerHistory
		}
	}
	return out, nil
}

const emptyLayerHistory = "stevedore: empty layer (an image has at least one)"

// workDirLayer returns the layer of WithWorkDir: dir made if missing (its
// parents too), as a Dockerfile's WORKDIR makes it.
func workDirLayer(dir string, mtime time.Time, o *options) (v1.Layer, error) {
	var opts []layer.LayerOption
	if o.cacheDir != "" {
		opts = append(opts, layer.WithCache(o.cacheDir))
	}
	if o.remoteCache != nil {
		opts = append(opts, layer.WithRemoteCache(o.remoteCache))
	}
	l, err := layer.New(context.Background(), []layer.Source{layer.Dirs([]string{dir}, layer.WithModTime(mtime))}, opts...)
	if err != nil {
		return nil, fmt.Errorf("image: working directory layer %s: %w", dir, err)
	}
	return l, nil
}

// emptyLayer is a layer with no entries.
func emptyLayer(mtime time.Time) (v1.Layer, error) {
	l, err := layer.FromFiles(nil, layer.WithModTime(mtime))
	if err != nil {
		return nil, fmt.Errorf("image: empty layer: %w", err)
	}
	return l, nil
}

// addLayers places each layer of package layer on the tree of the image
// below it, computes every layer, hands it to WithLayerBuilt's functions
// (typed for fam), and returns what the manifest and the config need.
func addLayers(ctx context.Context, b *baseImage, o *options, fam mediatype.Family, toAdd []pendingLayer, ix *indexer) ([]addedLayer, error) {
	tree := newTree(b.layers, b.descs, b.cf.RootFS.DiffIDs, ix, o.skipUnchanged)
	adds := make([]addedLayer, len(toAdd))
	for i, pl := range toAdd {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		pl.l = place(pl.l, layer.Placement{Base: tree, SkipUnchanged: o.skipUnchanged})
		a, err := compute(ctx, pl)
		if err != nil {
			return nil, fmt.Errorf("image: added layer %d: %w", i, err)
		}
		adds[i] = a
		if len(o.layerBuilt) > 0 {
			built, _ := a.inFamily(fam)
			for _, f := range o.layerBuilt {
				f(built)
			}
		}
		tree = tree.with(unwrap(a.l), a.descriptor(a.mt), a.diffID)
	}
	return adds, nil
}

// place places l on p.Base when it is a layer of package layer.
func place(l v1.Layer, p layer.Placement) v1.Layer {
	switch l := l.(type) {
	case *described:
		return describe(place(l.Layer, p), l.by)
	case layer.Placeable:
		return l.Place(p)
	}
	return l
}

// compute builds a layer (under ctx, for the layers that can) and reads
// its digests and size.
func compute(ctx context.Context, pl pendingLayer) (addedLayer, error) {
	l := pl.l
	if c, ok := unwrap(l).(layer.Computable); ok {
		if err := c.Compute(ctx); err != nil {
			return addedLayer{}, err
		}
	}
	a := addedLayer{pendingLayer: pl}
	var err error
	if a.digest, err = l.Digest(); err != nil {
		return addedLayer{}, fmt.Errorf("digest: %w", err)
	}
	if a.diffID, err = l.DiffID(); err != nil {
		return addedLayer{}, fmt.Errorf("layer %s: diff ID: %w", a.digest, err)
	}
	if a.size, err = l.Size(); err != nil {
		return addedLayer{}, fmt.Errorf("layer %s: size: %w", a.digest, err)
	}
	if a.annotations, err = annotationsOf(l); err != nil {
		return addedLayer{}, fmt.Errorf("layer %s: annotations: %w", a.digest, err)
	}
	if a.history == "" {
		a.history = createdBy(l)
	}
	if a.history == "" {
		a.history = "stevedore: layer " + a.digest.String()
	}
	return a, nil
}
