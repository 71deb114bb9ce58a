package registry

import (
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// shared is package layer's Shared, as Push sees it (this package does
// not import layer): a layer that a remote layer cache holds, for
// example a [LayerCache].
type shared interface {
	SharedLayer() v1.Layer
}

// mountShared makes the layers of t that a layer cache of target's
// registry holds mountable from the cache repository, so that Push mounts
// them instead of uploading them. An image is returned as it is when it
// has no such layer; an index's images are looked at as Push reaches
// them.
func mountShared(t pushable, target name.Repository) pushable {
	switch t := t.(type) {
	case v1.Image:
		if needsMounts(t, target) {
			return &mountImage{Image: t, target: target}
		}
	case v1.ImageIndex:
		return mountIndex(t, target)
	}
	return t
}

// needsMounts reports whether img has a layer to mount from a layer
// cache.
func needsMounts(img v1.Image, target name.Repository) bool {
	ls, err := img.Layers()
	if err != nil {
		return false
	}
	for _, l := range ls {
		if _, ok := cacheRef(l, target); ok {
			return true
		}
	}
	return false
}

// cacheRef returns where a layer cache of target's registry, in another
// repository, holds l.
func cacheRef(l v1.Layer, target name.Repository) (name.Reference, bool) {
	var ml *remote.MountableLayer
	if c, ok := l.(*cachedLayer); ok { // a LayerCache's own layer
		ml = c.MountableLayer
	} else if s, ok := l.(shared); ok {
		switch sl := s.SharedLayer().(type) {
		case *cachedLayer:
			ml = sl.MountableLayer
		case *remote.MountableLayer:
			ml = sl
		}
	}
	if ml == nil {
		return nil, false
	}
	from := ml.Reference.Context()
	if from.RegistryStr() != target.RegistryStr() || from.RepositoryStr() == target.RepositoryStr() {
		return nil, false
	}
	return ml.Reference, true
}

// withMount returns l, mountable from its layer cache when it has one.
func withMount(l v1.Layer, target name.Repository) v1.Layer {
	if ref, ok := cacheRef(l, target); ok {
		return &remote.MountableLayer{Layer: l, Reference: ref}
	}
	return l
}

// mountImage is an image whose cached layers are mountable.
type mountImage struct {
	v1.Image
	target name.Repository
}

func (m *mountImage) Layers() ([]v1.Layer, error) {
	ls, err := m.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for i, l := range ls {
		out[i] = withMount(l, m.target)
	}
	return out, nil
}

func (m *mountImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	l, err := m.Image.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	return withMount(l, m.target), nil
}

// Descriptor keeps the image's descriptor (see partial.Descriptor).
func (m *mountImage) Descriptor() (*v1.Descriptor, error) { return partial.Descriptor(m.Image) }

// ConfigLayer keeps the config blob as the image has it (see partial.ConfigLayer).
func (m *mountImage) ConfigLayer() (v1.Layer, error) { return partial.ConfigLayer(m.Image) }

// mountIndex makes the cached layers of an index's images mountable, at
// every depth.
func mountIndex(idx v1.ImageIndex, target name.Repository) *wrapIndex {
	return &wrapIndex{
		index:     index{inner: idx},
		wrapImage: func(img v1.Image) v1.Image { return &mountImage{Image: img, target: target} },
	}
}
