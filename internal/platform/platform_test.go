package platform

import (
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/stretchr/testify/assert"
)

func TestNormalize(t *testing.T) {
	for _, tc := range []struct{ in, want v1.Platform }{
		{v1.Platform{OS: "Linux", Architecture: "aarch64"}, v1.Platform{OS: "linux", Architecture: "arm64"}},
		{v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, v1.Platform{OS: "linux", Architecture: "arm64"}},
		{v1.Platform{OS: "linux", Architecture: "arm"}, v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}},
		{v1.Platform{OS: "linux", Architecture: "x86_64", OSVersion: "1"}, v1.Platform{OS: "linux", Architecture: "amd64", OSVersion: "1"}},
	} {
		assert.Equal(t, tc.want, Normalize(tc.in), "Normalize(%+v)", tc.in)
	}
	assert.True(t, Same(v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, v1.Platform{OS: "linux", Architecture: "arm64"}))
	assert.False(t, Same(v1.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}, v1.Platform{OS: "linux", Architecture: "arm"}))
}
