package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/stevedore-dev/stevedore/examples/internal/exampletest"
	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/registry"
	"github.com/stevedore-dev/stevedore/registry/registrytest"
)

// demoTarball writes the demo image to a tarball and returns its path and
// digest.
func demoTarball(t *testing.T) (string, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "demo.oci.tar")
	if err := writeDemoImage(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	l, err := image.ReadOCITarball(p)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	img, err := l.Image("")
	if err != nil {
		t.Fatal(err)
	}
	h, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return p, h.String()
}

// TestDefault runs with no flags: the demo image, pushed to an in-process
// registry with generated credentials, twice.
func TestDefault(t *testing.T) {
	_, want := demoTarball(t)
	r1 := exampletest.Run(t, runWith(strings.NewReader("")))
	r2 := exampletest.Run(t, runWith(strings.NewReader("")))
	if r1.Digest != want || r2.Digest != want {
		t.Errorf("pushed %s and %s, want the demo image %s both times", r1.Digest, r2.Digest, want)
	}
	if !strings.HasSuffix(r1.Name, "/demo/hello") {
		t.Errorf("printed %s, want REGISTRY/demo/hello@sha256:...", r1.Ref)
	}
	// stderr is not a terminal here: plain progress lines.
	for _, s := range []string{"uploaded", "manifest pushed " + want} {
		if !strings.Contains(r1.Stderr, s) {
			t.Errorf("stderr = %q, want a line with %q", r1.Stderr, s)
		}
	}
}

// TestPasswordStdin pushes a tarball with -username and -password-stdin,
// twice: the second push sends no blob.
func TestPasswordStdin(t *testing.T) {
	const user, pass = "ci", "s3cr3t-Passw0rd"
	srv := registrytest.New(t, registrytest.WithBasicAuth(user, pass))
	file, want := demoTarball(t)
	args := []string{"-image", file, "-target", srv.Ref("team/app:v1"), "-username", user, "-password-stdin"}
	r1 := exampletest.Run(t, runWith(strings.NewReader(pass+"\n")), args...)
	srv.ResetStats()
	r2 := exampletest.Run(t, runWith(strings.NewReader(pass+"\n")), args...)
	if r1.Digest != want || r2.Digest != want {
		t.Fatalf("pushed %s and %s, want the tarball's %s", r1.Digest, r2.Digest, want)
	}
	if st := srv.Stats(); st.BlobUploads != 0 {
		t.Errorf("second push uploaded %d blobs, want 0", st.BlobUploads)
	}
	if !strings.Contains(r2.Stderr, "skipped") && !strings.Contains(r2.Stderr, "exists") {
		t.Errorf("second push stderr = %q, want the blobs reported as already there", r2.Stderr)
	}
	if strings.Contains(r1.Stdout+r1.Stderr, pass) {
		t.Error("the password appears in the output")
	}
	exampletest.Pull(t, r1.Ref, registry.WithBasicAuth(user, pass))
}

// TestDockerConfig pushes with the credentials of a docker config.json.
func TestDockerConfig(t *testing.T) {
	const user, pass = "robot", "from-config-json"
	srv := registrytest.New(t, registrytest.WithBasicAuth(user, pass))
	dir := t.TempDir()
	cfg, _ := json.Marshal(map[string]any{"auths": map[string]any{
		srv.Host: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))},
	}})
	if err := os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dir)
	file, want := demoTarball(t)
	r := exampletest.Run(t, runWith(strings.NewReader("")), "-image", file, "-target", srv.Ref("team/app:v1"))
	if r.Digest != want {
		t.Errorf("pushed %s, want %s", r.Digest, want)
	}
}

// TestLayoutIndex pushes an index picked by name out of an OCI layout
// holding two entries.
func TestLayoutIndex(t *testing.T) {
	ctx := context.Background()
	srv := registrytest.New(t)
	layout := filepath.Join(t.TempDir(), "layout")
	idx, err := image.BuildIndex(ctx, nil, image.WithPlatforms("linux/amd64", "linux/arm64"), image.WithCmd("/app"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := image.Build(ctx, nil, image.WithCmd("/other"))
	if err != nil {
		t.Fatal(err)
	}
	if err := image.WriteOCILayout(ctx, layout, idx, image.WithRefName("multi")); err != nil {
		t.Fatal(err)
	}
	if err := image.WriteOCILayout(ctx, layout, img, image.WithRefName("single")); err != nil {
		t.Fatal(err)
	}
	want, _ := idx.Digest()

	r := exampletest.Run(t, runWith(nil), "-image", layout, "-name", "multi", "-target", srv.Ref("team/multi:v1"))
	if r.Digest != want.String() {
		t.Errorf("pushed %s, want the index %s", r.Digest, want)
	}
	got, err := registry.PullIndex(ctx, r.Ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(got); err != nil {
		t.Errorf("validate.Index = %v", err)
	}

	_, err = exampletest.RunErr(t, runWith(nil), "-image", layout, "-target", srv.Ref("team/multi:v2"))
	if !errors.Is(err, image.ErrAmbiguous) || !strings.Contains(err.Error(), "-name") {
		t.Errorf("push of a two-entry layout without -name = %v, want an error wrapping image.ErrAmbiguous that suggests -name", err)
	}
}

func TestErrors(t *testing.T) {
	const user, pass = "ci", "right-password"
	srv := registrytest.New(t, registrytest.WithBasicAuth(user, pass))
	file, _ := demoTarball(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := l.Addr().String()
	l.Close()
	t.Setenv("DOCKER_CONFIG", t.TempDir())

	tests := []struct {
		name   string
		args   []string
		stdin  string
		is     error
		substr string
	}{
		{"wrong password", []string{"-image", file, "-target", srv.Ref("a/b:c"), "-username", user, "-password-stdin"}, "wrong-password\n", registry.ErrUnauthorized, "refused"},
		{"no credentials", []string{"-image", file, "-target", srv.Ref("a/b:c")}, "", registry.ErrUnauthorized, "docker config"},
		{"network down", []string{"-image", file, "-target", down + "/a/b:c"}, "", nil, "connection refused"},
		{"no such image", []string{"-image", file + ".missing", "-target", srv.Ref("a/b:c")}, "", os.ErrNotExist, "-image"},
		{"not an image", []string{"-image", "main.go", "-target", srv.Ref("a/b:c")}, "", nil, "-image main.go"},
		{"image without target", []string{"-image", file}, "", nil, "-target is required"},
		{"username without stdin", []string{"-image", file, "-target", "x/y:z", "-username", "u"}, "", nil, "-username needs -password-stdin"},
		{"stdin without username", []string{"-password-stdin"}, "pw", nil, "-password-stdin needs -username"},
		{"empty password", []string{"-image", file, "-target", "x/y:z", "-username", "u", "-password-stdin"}, "\n", nil, "stdin is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := exampletest.RunErr(t, runWith(strings.NewReader(tt.stdin)), tt.args...)
			if err == nil {
				t.Fatalf("run(%q) = nil, want an error; stdout %q", tt.args, r.Stdout)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("run(%q) = %v, want an error wrapping %v", tt.args, err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.substr) {
				t.Errorf("run(%q) = %v, want it to mention %q", tt.args, err, tt.substr)
			}
			if strings.Contains(err.Error(), "wrong-password") || strings.Contains(err.Error(), pass) {
				t.Errorf("run(%q) = %v: the error shows a password", tt.args, err)
			}
		})
	}
}
