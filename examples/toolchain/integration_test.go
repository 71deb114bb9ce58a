package main

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/examples/internal/exampletest"
	"github.com/stevedore-dev/stevedore/internal/itest"
	"github.com/stevedore-dev/stevedore/registry"
)

// TestIntegrationDistribution pushes the toolchain image to a real Docker
// Distribution registry with htpasswd auth, credentials coming from a
// docker config.json, then checks it with tools no one here wrote: skopeo
// copies it to an OCI layout, umoci unpacks it, and runc runs `go version`
// in it.
func TestIntegrationDistribution(t *testing.T) {
	itest.Require(t, "docker-registry", "skopeo", "umoci", "runc")
	const user, password = "toolchain-ci", "hunter2-but-longer"
	d := itest.StartDistribution(t, user, password, nil, nil)
	target := d.Ref("stevedore/toolchain:it")

	// Without credentials the registry refuses the push: the credentials
	// below really are what makes it work.
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	_, err := exampletest.RunErr(t, run, "-target", target, "-cache", sharedCache)
	require.ErrorIs(t, err, registry.ErrUnauthorized, "push without credentials")

	// A docker config.json, as `docker login` writes it.
	exampletest.DockerConfig(t, d.Host, user, password)

	r := exampletest.Run(t, run, "-target", target, "-cache", sharedCache)
	assert.Equal(t, d.Ref("stevedore/toolchain"), r.Name, "repository printed (%s)", r.Ref)
	assert.NotContains(t, r.Stdout+r.Stderr, password, "the output")

	layout := filepath.Join(t.TempDir(), "layout")
	itest.Run(t, "skopeo", "copy", "--quiet",
		"--src-creds", user+":"+password, "--src-tls-verify=false",
		"docker://"+r.Ref, "oci:"+layout+":toolchain")
	bundle := itest.Unpack(t, layout, "toolchain")
	got := strings.TrimSpace(itest.RunBundle(t, bundle, "/usr/local/go/bin/go", "version"))

	out, err := exec.CommandContext(context.Background(), "go", "env", "GOVERSION", "GOHOSTOS", "GOHOSTARCH").Output()
	require.NoError(t, err)
	f := strings.Fields(string(out))
	require.Len(t, f, 3, "go env GOVERSION GOHOSTOS GOHOSTARCH")
	assert.Equal(t, "go version "+f[0]+" "+f[1]+"/"+f[2], got, "go version in the container")
}

// TestIntegrationTarballWithSBOM: the default output, which carries the
// SBOM and provenance beside the image, is still read by skopeo (by the
// image's name, "latest": the tarball has more than one entry), with the
// printed digest.
func TestIntegrationTarballWithSBOM(t *testing.T) {
	itest.Require(t, "skopeo")
	out := filepath.Join(t.TempDir(), "toolchain.oci.tar")
	r := exampletest.Run(t, run, "-o", out, "-cache", sharedCache)
	require.Len(t, exampletest.TarballAttestations(t, out, r.Digest), 2, "artifacts in the tarball")
	var insp struct{ Digest string }
	require.NoError(t, json.Unmarshal([]byte(itest.Run(t, "skopeo", "inspect", "oci-archive:"+out+":latest")), &insp))
	assert.Equal(t, r.Digest, insp.Digest, "skopeo inspect oci-archive:%s:latest", out)
	layout := filepath.Join(t.TempDir(), "layout")
	itest.Run(t, "skopeo", "copy", "--quiet", "--preserve-digests", "oci-archive:"+out+":latest", "oci:"+layout+":toolchain")
}
