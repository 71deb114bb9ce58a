package image

import (
	v1 "github.com/google/go-containerregistry/pkg/v1"
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
	_ layer.Shared    = (*retyped)(nil)
	_ layer.Shared    = (*described)(nil)
)

func (l *retyped) MediaType() (types.MediaType, error) { return l.mt, nil }

// CreatedBy passes on the history text of the layer inside.
func (l *retyped) CreatedBy() string { return createdBy(l.Layer) }

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
