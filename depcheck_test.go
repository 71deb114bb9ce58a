package stevedore_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const module = "github.com/stevedore-dev/stevedore"

// TestDependencyDirection enforces the layering in DESIGN.md:
// examples -> {image, registry, layer} -> internal -> ggcr. In particular
// layer never imports image or registry, and image never imports registry.
func TestDependencyDirection(t *testing.T) {
	forbidden := map[string][]string{
		"layer":    {"image", "registry", "examples"},
		"image":    {"registry", "examples"},
		"registry": {"image", "layer", "examples"},
		"internal": {"image", "registry", "layer", "examples"},
	}
	for _, p := range modulePackages(t) {
		rel := p.rel
		top, _, _ := strings.Cut(rel, "/")
		// registrytest is a test helper beside registry: same rules.
		bans := forbidden[top]
		if top == "internal" && strings.HasPrefix(rel, "internal/itest") {
			continue // test helpers may drive anything
		}
		for _, d := range p.deps {
			// BuildKit's Dockerfile parser stays behind image/dockerfile.
			if strings.HasPrefix(d, "github.com/moby/buildkit/") && rel != "image/dockerfile" && top != "examples" {
				assert.Fail(t, "BuildKit outside image/dockerfile", "%s imports %s: only image/dockerfile may depend on BuildKit", rel, d)
			}
			drel, ok := strings.CutPrefix(d, module+"/")
			if !ok {
				continue
			}
			dtop, _, _ := strings.Cut(drel, "/")
			assert.NotContains(t, bans, dtop, "%s imports %s: %s must not depend on %s (DESIGN.md layout)", rel, drel, top, dtop)
		}
	}
}

// TestRegistryCodeStaysInRegistrytest keeps Docker Distribution, which
// registrytest embeds, and registrytest itself out of the packages users
// import to build and push images: only registrytest and the example
// programs (which start one to push to) may depend on them.
func TestRegistryCodeStaysInRegistrytest(t *testing.T) {
	heavy := []string{"github.com/distribution/distribution/", module + "/registry/registrytest"}
	for _, p := range modulePackages(t) {
		rel := p.rel
		if rel == "registry/registrytest" || strings.HasPrefix(rel, "examples/") {
			continue
		}
		for _, d := range p.deps {
			for _, h := range heavy {
				assert.False(t, strings.HasPrefix(d, h), "%s imports %s: only registrytest and the examples may", rel, d)
			}
		}
	}
}

// modulePackage is a package of this module and what it depends on.
type modulePackage struct {
	rel  string   // import path relative to the module
	deps []string // full import paths
}

var (
	listOnce sync.Once
	listed   []modulePackage
	listErr  error
)

// modulePackages lists the module's packages (tests excluded) with their
// dependencies, running go list once for all the tests.
func modulePackages(t *testing.T) []modulePackage {
	t.Helper()
	listOnce.Do(func() { listed, listErr = listPackages() })
	require.NoError(t, listErr)
	require.NotEmpty(t, listed, "go list reported no packages of this module")
	return listed
}

func listPackages() ([]modulePackage, error) {
	out, err := exec.Command("go", "list", "-deps", "-json=ImportPath,Deps", "./...").Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w", err)
	}
	var pkgs []modulePackage
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p struct {
			ImportPath string
			Deps       []string
		}
		if err := dec.Decode(&p); err != nil {
			return nil, fmt.Errorf("decoding go list: %w", err)
		}
		if rel, ok := strings.CutPrefix(p.ImportPath, module+"/"); ok {
			pkgs = append(pkgs, modulePackage{rel: rel, deps: p.Deps})
		}
	}
	return pkgs, nil
}
