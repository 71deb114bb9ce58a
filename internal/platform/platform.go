package platform

import (
	"github.com/containerd/platforms"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/image-spec/specs-go/v1"
)

// Normalize is p as containerd's platforms.Normalize gives it: lowercase
// OS and architecture, the architecture's usual name (aarch64 is arm64,
// x86_64 amd64, armhf arm/v7) and its default variant (arm is arm/v7,
// arm64/v8 is arm64, amd64/v1 is amd64). The other fields are kept.
func Normalize(p v1.Platform) v1.Platform {
	n := platforms.Normalize(specs.Platform{OS: p.OS, Architecture: p.Architecture, Variant: p.Variant})
	p.OS, p.Architecture, p.Variant = n.OS, n.Architecture, n.Variant
	return p
}

// Same reports whether a and b name the same OS, architecture and
// variant once normalized.
func Same(a, b v1.Platform) bool {
	a, b = Normalize(a), Normalize(b)
	return a.OS == b.OS && a.Architecture == b.Architecture && a.Variant == b.Variant
}
