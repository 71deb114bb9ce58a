package image

import (
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/stevedore-dev/stevedore/layer"
)

// retyped is a layer with another media type and the same bytes.
type retyped struct {
	v1.Layer
	mt types.MediaType
}

var (
	_ v1.Layer        = (*retyped)(nil)
	_ layer.Describer = (*retyped)(nil)
	_ layer.Annotated = (*retyped)(nil)
	_ layer.Annotated = (*described)(nil)
	_ layer.Shared    = (*retyped)(nil)
	_ layer.Shared    = (*described)(nil)
)

func (l *retyped) MediaType() (types.MediaType, error) { return l.mt, nil }

// CreatedBy passes on the history text of the layer inside.
func (l *retyped) CreatedBy() string { return createdBy(l.Layer) }

// Annotations passes on the descriptor annotations of the layer inside.
func (l *retyped) Annotations() (map[string]string, error) { return annotationsOf(l.Layer) }

// CacheHit passes on the layer inside's (layer.Cached).
func (l *retyped) CacheHit() bool { return cacheHit(l.Layer) }

// SharedLayer passes on what the layer inside says (see layer.Shared).
func (l *retyped) SharedLayer() v1.Layer { return sharedLayer(l.Layer) }

// retype returns l with media type mt, l itself when it has it already.
func retype(l v1.Layer, have, mt types.MediaType) v1.Layer {
	if have == mt {
		return l
	}
	if r, ok := l.(*retyped); ok {
		l = r.Layer
	}
	return &retyped{Layer: l, mt: mt}
}

// described is a layer with the history text given by WithLayerHistory.
type described struct {
	v1.Layer
	by string
}

func describe(l v1.Layer, by string) v1.Layer { return &described{Layer: l, by: by} }

func (l *described) CreatedBy() string { return l.by }

// Annotations passes on the descriptor annotations of the layer inside.
func (l *described) Annotations() (map[string]string, error) { return annotationsOf(l.Layer) }

// CacheHit passes on the layer inside's (layer.Cached).
func (l *described) CacheHit() bool { return cacheHit(l.Layer) }

// cacheHit reports whether l came from its layer cache.
func cacheHit(l v1.Layer) bool {
	c, ok := l.(layer.Cached)
	return ok && c.CacheHit()
}

// SharedLayer passes on what the layer inside says (see layer.Shared).
func (l *described) SharedLayer() v1.Layer { return sharedLayer(l.Layer) }

// sharedLayer returns the layer as a remote layer cache holds it (see
// layer.Shared), or nil.
func sharedLayer(l v1.Layer) v1.Layer {
	if s, ok := l.(layer.Shared); ok {
		return s.SharedLayer()
	}
	return nil
}

// unwrap returns the layer inside this package's wrappers.
func unwrap(l v1.Layer) v1.Layer {
	for {
		switch w := l.(type) {
		case *retyped:
			l = w.Layer
		case *described:
			l = w.Layer
		default:
			return l
		}
	}
}

// createdBy returns the history text a layer carries (layer.Describer),
// or "".
func createdBy(l v1.Layer) string {
	if c, ok := l.(layer.Describer); ok {
		return c.CreatedBy()
	}
	return ""
}

// annotationsOf returns the annotations l's descriptor carries: those
// layer.Annotated gives (an eStargz layer's TOC digest, for example), else
// those of the descriptor go-containerregistry's partial.Descriptor finds
// (a layer of a pulled image has its manifest's). nil for none.
func annotationsOf(l v1.Layer) (map[string]string, error) {
	if a, ok := l.(layer.Annotated); ok {
		return a.Annotations()
	}
	d, err := partial.Descriptor(l)
	if err != nil {
		return nil, err
	}
	return d.Annotations, nil
}
