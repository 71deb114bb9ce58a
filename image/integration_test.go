package image

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/stevedore-dev/stevedore/internal/mediatype"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/stevedore-dev/stevedore/internal/itest"
	"github.com/stevedore-dev/stevedore/layer"
)

// TestSkopeoReadsEveryOutput: skopeo inspect and skopeo copy read the OCI
// layout, the OCI tarball and the docker tarball we write, and see the
// digest (or config) we built.
func TestSkopeoReadsEveryOutput(t *testing.T) {
	itest.Require(t, "skopeo")
	ctx := t.Context()
	img := mustBuild(t, configuredBase(t, mediatype.OCI), WithLayers(randomLayer(t, 20, types.OCILayer)), WithEnv("OUT", "1"))
	want := digestOf(t, img)
	dir := t.TempDir()
	lay, oci, dock := filepath.Join(dir, "layout"), filepath.Join(dir, "img.oci.tar"), filepath.Join(dir, "img.docker.tar")
	if err := WriteOCILayout(ctx, lay, img, WithRefName("v1")); err != nil {
		t.Fatal(err)
	}
	if err := WriteOCITarball(ctx, oci, img, WithRefName("v1")); err != nil {
		t.Fatal(err)
	}
	if err := WriteDockerTarball(ctx, dock, "example.com/app:v1", img); err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{"oci:" + lay + ":v1", "oci-archive:" + oci, "docker-archive:" + dock} {
		t.Run(strings.SplitN(src, ":", 2)[0], func(t *testing.T) {
			var insp struct {
				Digest string
				Env    []string
			}
			out := itest.Run(t, "skopeo", "inspect", src)
			if err := json.Unmarshal([]byte(out), &insp); err != nil {
				t.Fatalf("skopeo inspect output %q: %v", out, err)
			}
			if v, _ := lookupEnv(insp.Env, "OUT"); v != "1" {
				t.Errorf("skopeo inspect %s: Env = %q, want OUT=1", src, insp.Env)
			}
			if !strings.HasPrefix(src, "docker-archive:") && insp.Digest != want.String() {
				// docker archives hold no manifest: skopeo makes one up.
				t.Errorf("skopeo inspect %s: Digest = %s, want %s", src, insp.Digest, want)
			}
			// skopeo copy of the config must give our config bytes.
			dst := filepath.Join(t.TempDir(), "copy")
			args := []string{"copy", "--preserve-digests", src, "oci:" + dst + ":copied"}
			if strings.HasPrefix(src, "docker-archive:") {
				// skopeo 1.9.3's docker-archive source hands out the layers
				// uncompressed under a tar.gzip media type; with
				// --preserve-digests it writes them so (a mislabelled layer,
				// seen here). Without it, skopeo compresses them.
				args = slices.Delete(args, 1, 2)
			}
			itest.Run(t, "skopeo", args...)
			l, err := ReadOCILayout(dst)
			if err != nil {
				t.Fatal(err)
			}
			got, err := l.Image("copied")
			if err != nil {
				t.Fatal(err)
			}
			checkImage(t, got)
			gc, _ := got.ConfigName()
			wc, _ := img.ConfigName()
			if strings.HasPrefix(src, "docker-archive:") {
				// skopeo re-encodes the config when it converts: compare
				// what matters.
				g, w := configOf(t, got), configOf(t, img)
				if !slices.Equal(g.RootFS.DiffIDs, w.RootFS.DiffIDs) || !slices.Equal(g.Config.Env, w.Config.Env) {
					t.Errorf("skopeo copy %s: diff_ids %v env %q, want %v %q", src, g.RootFS.DiffIDs, g.Config.Env, w.RootFS.DiffIDs, w.Config.Env)
				}
			} else if gc != wc {
				t.Errorf("skopeo copy %s: config %s, want %s", src, gc, wc)
			}
		})
	}
}

// TestSkopeoCopiesIndex: skopeo copies the multi-platform index of an OCI
// tarball with --all, keeping its digest.
func TestSkopeoCopiesIndex(t *testing.T) {
	itest.Require(t, "skopeo")
	idx, err := BuildIndex(t.Context(), nil, WithPlatforms("linux/amd64", "linux/arm64"),
		WithLayers(tarLayer(t, types.OCILayer, tarFile{name: "f", body: "f"})))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "idx.tar")
	if err := WriteOCITarball(t.Context(), p, idx); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "copy")
	itest.Run(t, "skopeo", "copy", "--all", "--preserve-digests", "oci-archive:"+p, "oci:"+dst+":idx")
	l, err := ReadOCILayout(dst)
	if err != nil {
		t.Fatal(err)
	}
	got, err := l.ImageIndex("idx")
	if err != nil {
		t.Fatal(err)
	}
	if digestOf(t, got) != digestOf(t, idx) {
		t.Errorf("skopeo copy --all: index %s, want %s", digestOf(t, got), digestOf(t, idx))
	}
}

// TestUmociAcceptsOursRejectsPlainGGCR: umoci unpacks our OCI outputs, and
// refuses the mixed-family image ggcr's plain AppendLayers makes.
func TestUmociAcceptsOursRejectsPlainGGCR(t *testing.T) {
	itest.Require(t, "umoci", "skopeo")
	ctx := t.Context()
	files := []tarFile{{name: "etc/", dir: true, mode: 0o755}, {name: "etc/greeting", body: "hi\n"}}
	ours := mustBuild(t, configuredBase(t, mediatype.OCI), WithLayers(tarLayer(t, types.DockerLayer, files...)))
	lay := filepath.Join(t.TempDir(), "layout")
	if err := WriteOCILayout(ctx, lay, ours, WithRefName("ours")); err != nil {
		t.Fatal(err)
	}
	bundle := itest.Unpack(t, lay, "ours")
	if b, err := os.ReadFile(filepath.Join(bundle, "rootfs", "etc", "greeting")); err != nil || string(b) != "hi\n" {
		t.Errorf("unpacked etc/greeting = %q, %v, want hi", b, err)
	}

	// The OCI tarball too: umoci reads layout directories only, so
	// extract it with tar (our bytes, as written), and also let skopeo
	// copy it into a layout.
	tb := filepath.Join(t.TempDir(), "ours.tar")
	if err := WriteOCITarball(ctx, tb, ours, WithRefName("ours")); err != nil {
		t.Fatal(err)
	}
	extracted := t.TempDir()
	itest.Run(t, itest.Require(t, "tar")[0], "-xf", tb, "-C", extracted)
	itest.Unpack(t, extracted, "ours")
	lay2 := filepath.Join(t.TempDir(), "layout2")
	itest.Run(t, "skopeo", "copy", "--preserve-digests", "oci-archive:"+tb, "oci:"+lay2+":ours")
	itest.Unpack(t, lay2, "ours")

	// The plain ggcr way: same base, same layer, mutate.AppendLayers.
	plain := filepath.Join(t.TempDir(), "plain")
	if err := WriteOCILayout(ctx, plain, plainGGCRWith(t, files), WithRefName("plain")); err != nil {
		t.Fatal(err)
	}
	_, err := itest.UnpackErr(t, plain, "plain")
	if err == nil {
		t.Fatal("umoci unpack accepted the mixed-family image of plain ggcr; want a refusal")
	}
	// umoci 0.4.7 says: "unpack rootfs: layer sha256:...: blob is not
	// correct mediatype: application/vnd.docker.image.rootfs.diff.tar.gzip".
	if !strings.Contains(err.Error(), "mediatype") {
		t.Errorf("umoci refused the plain ggcr image, but not for its media type: %v", err)
	}
	t.Logf("umoci on the plain ggcr image (expected refusal): %v", err)
}

// TestRuncRunsStaticBinary: scratch plus a layer holding a static Go
// binary, unpacked by umoci, runs under runc and prints what it prints.
func TestRuncRunsStaticBinary(t *testing.T) {
	goTool := itest.Require(t, "go", "umoci", "runc")[0]
	if runtime.GOOS != "linux" {
		t.Skip("runc needs linux")
	}
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(`package main

import (
	"fmt"
	"os"
)

func main() {
	wd, _ := os.Getwd()
	fmt.Printf("hello from stevedore %s in %s\n", os.Getenv("GREETING"), wd)
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module hello\n\ngo 1.25\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "hello")
	cmd := []string{"build", "-trimpath", "-ldflags=-s -w", "-o", bin, "."}
	t.Setenv("CGO_ENABLED", "0")
	t.Setenv("GOOS", "linux")
	t.Setenv("GOARCH", runtime.GOARCH)
	t.Setenv("GOFLAGS", "-mod=mod")
	t.Chdir(src)
	itest.Run(t, goTool, cmd...)
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	l, err := layer.FromFiles([]layer.File{{Path: "/usr/local/bin/hello", Data: data, Mode: 0o755}})
	if err != nil {
		t.Fatal(err)
	}
	img := mustBuild(t, nil, WithPlatform("linux/"+runtime.GOARCH), WithLayers(l),
		WithEntrypoint("/usr/local/bin/hello"), WithEnv("GREETING", "runc"), WithWorkDir("/work"), WithUser("65532"))
	lay := filepath.Join(t.TempDir(), "layout")
	if err := WriteOCILayout(t.Context(), lay, img, WithRefName("hello")); err != nil {
		t.Fatal(err)
	}
	bundle := itest.Unpack(t, lay, "hello")
	out := itest.RunBundle(t, bundle)
	if want := "hello from stevedore runc in /work\n"; out != want {
		t.Errorf("runc run printed %q, want %q", out, want)
	}
}

// plainGGCRWith is plainGGCR with the given files.
func plainGGCRWith(t testing.TB, files []tarFile) v1.Image {
	t.Helper()
	return mustAppend(t, configuredBase(t, mediatype.OCI), tarLayer(t, types.DockerLayer, files...))
}

// TestAppendToSkopeoLayout: a layout skopeo wrote keeps working after we
// add an image to it, and skopeo reads ours from it.
func TestAppendToSkopeoLayout(t *testing.T) {
	itest.Require(t, "skopeo")
	ctx := t.Context()
	first, second := testImage(t, 30), testImage(t, 31)
	tb := filepath.Join(t.TempDir(), "first.tar")
	if err := WriteOCITarball(ctx, tb, first); err != nil {
		t.Fatal(err)
	}
	lay := filepath.Join(t.TempDir(), "layout")
	itest.Run(t, "skopeo", "copy", "--preserve-digests", "oci-archive:"+tb, "oci:"+lay+":first")
	if err := WriteOCILayout(ctx, lay, second, WithRefName("second")); err != nil {
		t.Fatal(err)
	}
	for ref, img := range map[string]v1.Image{"first": first, "second": second} {
		var insp struct{ Digest string }
		out := itest.Run(t, "skopeo", "inspect", "oci:"+lay+":"+ref)
		if err := json.Unmarshal([]byte(out), &insp); err != nil {
			t.Fatal(err)
		}
		if want := digestOf(t, img).String(); insp.Digest != want {
			t.Errorf("skopeo inspect oci:layout:%s digest = %s, want %s", ref, insp.Digest, want)
		}
	}
}
