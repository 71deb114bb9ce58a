package stevedore_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
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
	out, err := exec.Command("go", "list", "-deps", "-json=ImportPath,Deps", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	checked := 0
	for dec.More() {
		var p struct {
			ImportPath string
			Deps       []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		rel, ok := strings.CutPrefix(p.ImportPath, module+"/")
		if !ok {
			continue
		}
		top, _, _ := strings.Cut(rel, "/")
		// registrytest is a test helper beside registry: same rules.
		bans := forbidden[top]
		if top == "internal" && strings.HasPrefix(rel, "internal/itest") {
			continue // test helpers may drive anything
		}
		checked++
		for _, d := range p.Deps {
			// BuildKit's Dockerfile parser stays behind image/dockerfile.
			if strings.HasPrefix(d, "github.com/moby/buildkit/") && rel != "image/dockerfile" && top != "examples" {
				t.Errorf("%s imports %s: only image/dockerfile may depend on BuildKit", rel, d)
			}
			drel, ok := strings.CutPrefix(d, module+"/")
			if !ok {
				continue
			}
			dtop, _, _ := strings.Cut(drel, "/")
			for _, ban := range bans {
				if dtop == ban {
					t.Errorf("%s imports %s: %s must not depend on %s (DESIGN.md layout)", rel, drel, top, ban)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("go list reported no packages of this module")
	}
}
