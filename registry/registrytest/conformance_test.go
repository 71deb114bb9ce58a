package registrytest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/pem"
	"encoding/xml"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// conformancePkg is the OCI distribution-spec conformance suite, a program
// pinned as a tool in go.mod.
const conformancePkg = "github.com/opencontainers/distribution-spec/conformance"

// referenceFile lists the conformance tests Docker Distribution 2.8 passes.
const referenceFile = "testdata/conformance-distribution-2.8.txt"

// TestConformance runs the OCI distribution-spec conformance suite against
// the Server without authentication, with basic auth, with token auth and
// with TLS, and requires every test that Docker Distribution 2.8 passes,
// and the referrers tests, to pass.
func TestConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("the conformance suite takes seconds; skipped with -short")
	}
	bin := buildConformance(t)
	reference := readReference(t)
	require.NotEmpty(t, reference, "reference list %s", referenceFile)

	const user, pass = "conformance", "conformance-pass"
	for _, tc := range []struct {
		name       string
		opts       []Option
		user, pass string
	}{
		{name: "no auth"},
		{name: "basic auth", opts: []Option{WithBasicAuth(user, pass)}, user: user, pass: pass},
		{name: "token auth", opts: []Option{WithTokenAuth(user, pass)}, user: user, pass: pass},
		{name: "TLS", opts: []Option{WithTLS()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := New(t, tc.opts...)
			res := runConformance(t, bin, s, tc.user, tc.pass)
			t.Logf("conformance with %s: %d passed, %d failed, %d skipped of %d",
				tc.name, res.count("passed"), res.count("failed"), res.count("skipped"), len(res))

			if testing.Verbose() {
				for _, name := range slices.Sorted(maps.Keys(res)) {
					if res[name] == "failed" {
						t.Logf("failed: %s", name)
					}
				}
			}

			var missing []string
			for _, name := range reference {
				if res[name] != "passed" {
					missing = append(missing, name+" = "+or(res[name], "not run"))
				}
			}
			assert.Empty(t, missing, "tests Distribution 2.8 passes that fail here")

			var referrers []string
			for name, status := range res {
				if strings.HasSuffix(name, "/referrers") {
					referrers = append(referrers, name)
					assert.Equal(t, "passed", status, "conformance test %s", name)
				}
			}
			assert.GreaterOrEqual(t, len(referrers), 4, "referrers tests run: %v", referrers)
		})
	}
}

// buildConformance returns the conformance program at the version go.mod
// pins: `go tool -n` builds it once into the build cache and prints its
// path, so later runs neither compile nor link it again.
func buildConformance(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, goBin, "tool", "-n", conformancePkg)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "go tool -n %s:\n%s", conformancePkg, stderr.String())
	bin := strings.TrimSpace(string(out))
	require.FileExists(t, bin, "go tool -n %s", conformancePkg)
	return bin
}

func readReference(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(referenceFile)
	require.NoError(t, err)
	defer f.Close()
	var names []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			names = append(names, line)
		}
	}
	require.NoError(t, sc.Err())
	return names
}

// results maps a conformance test name to "passed", "failed" or
// "skipped". A name can stand for several test cases (one per manifest or
// blob of a data set): it passed when all of them passed, failed when one
// failed, and was skipped when all were skipped.
type results map[string]string

func (r results) count(status string) int {
	n := 0
	for _, s := range r {
		if s == status {
			n++
		}
	}
	return n
}

// runConformance runs the conformance program against s and returns its
// results, read from the junit.xml it writes.
func runConformance(t *testing.T, bin string, s *Server, user, pass string) results {
	t.Helper()
	dir := t.TempDir()
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "OCI_") || strings.HasPrefix(kv, "SSL_CERT_")
	})
	env = append(env,
		"OCI_REGISTRY="+s.Host,
		"OCI_TLS=disabled",
		"OCI_REPO1=conformance/repo1",
		"OCI_REPO2=conformance/repo2",
		"OCI_USERNAME="+user,
		"OCI_PASSWORD="+pass,
		"OCI_API_PULL=true",
		"OCI_API_PUSH=true",
		"OCI_API_TAGS_LIST=true",
		"OCI_API_REFERRER=true",
		"OCI_API_BLOBS_DELETE=true",
		"OCI_API_MANIFESTS_DELETE=true",
		"OCI_API_TAGS_DELETE=true",
		"OCI_LOG=error",
		"OCI_RESULTS_DIR="+filepath.Join(dir, "results"),
	)
	if s.leaf != nil {
		// The suite's "insecure" mode still verifies certificates: trust
		// the server's through Go's SSL_CERT_FILE instead.
		certFile := filepath.Join(dir, "cert.pem")
		pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.leaf.Raw})
		require.NoError(t, os.WriteFile(certFile, pemBytes, 0o644))
		env = append(env, "OCI_TLS=enabled", "SSL_CERT_FILE="+certFile)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env, cmd.Dir = env, dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// The program exits 1 when any test fails; the results say which.
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "running the conformance suite:\n%s", out.String())
	}
	data, err := os.ReadFile(filepath.Join(dir, "results", "junit.xml"))
	require.NoError(t, err, "conformance output:\n%s", out.String())
	res, err := parseJUnit(data)
	require.NoError(t, err)
	if t.Failed() || testing.Verbose() {
		t.Logf("conformance summary:\n%s", summary(out.String()))
	}
	return res
}

func parseJUnit(data []byte) (results, error) {
	var doc struct {
		Suites []struct {
			Cases []struct {
				Name   string `xml:"name,attr"`
				Status string `xml:"status,attr"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	res := results{}
	for _, suite := range doc.Suites {
		for _, c := range suite.Cases {
			status := c.Status
			if status == "failure" || status == "error" {
				status = "failed"
			}
			switch prev, seen := res[c.Name]; {
			case !seen, prev == "skipped", status == "failed":
				res[c.Name] = status
			}
		}
	}
	return res, nil
}

// summary keeps the per-area lines of the suite's report.
func summary(out string) string {
	var b strings.Builder
	for line := range strings.Lines(out) {
		if strings.Contains(line, ".....") {
			b.WriteString(line)
		}
	}
	return b.String()
}

func or(s, alt string) string {
	if s == "" {
		return alt
	}
	return s
}
