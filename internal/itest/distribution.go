package itest

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

// Distribution is a running Docker Distribution registry (Debian's
// docker-registry, version 2.8) started by [StartDistribution].
type Distribution struct {
	// Host is host:port on 127.0.0.1.
	Host string
	// User and Password are the htpasswd credentials it accepts.
	User, Password string
	// Storage is the registry's filesystem storage directory.
	Storage string
	// CertFile is the registry's self-signed certificate (PEM), when it
	// was started with TLS; CertDir holds it as CertDir/ca.crt, which is
	// what skopeo's --cert-dir wants.
	CertFile, CertDir string
	// Log holds what the registry printed.
	Log *bytes.Buffer
}

// Ref returns Host + "/" + repoAndTag.
func (d *Distribution) Ref(repoAndTag string) string { return d.Host + "/" + repoAndTag }

// StartDistribution starts `docker-registry serve config.yml` on a free
// loopback port, with htpasswd (bcrypt) authentication for user and
// password and filesystem storage in a temporary directory, waits until
// it answers, and stops it when the test ends. With certPEM and keyPEM it
// serves TLS with them (Distribution sends basic credentials either way;
// it only warns about plain HTTP with htpasswd). It skips (or, in CI,
// fails) when docker-registry is not installed.
func StartDistribution(t testing.TB, user, password string, certPEM, keyPEM []byte) *Distribution {
	t.Helper()
	bin := Require(t, "docker-registry")[0]
	dir := t.TempDir()
	d := &Distribution{
		Host:     fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		User:     user,
		Password: password,
		Storage:  filepath.Join(dir, "storage"),
		Log:      &bytes.Buffer{},
	}
	configFile := d.writeConfig(t, dir, certPEM, keyPEM)
	exited := d.serve(t, bin, dir, configFile)
	d.waitReady(t, exited, certPEM != nil)
	return d
}

// writeConfig writes into dir the registry's config.yml, its htpasswd
// file and, with certPEM, its certificate and key, creates its storage
// directory, and returns the config file's path.
func (d *Distribution) writeConfig(t testing.TB, dir string, certPEM, keyPEM []byte) string {
	t.Helper()
	require.NoError(t, os.Mkdir(d.Storage, 0o755))
	hash, err := bcrypt.GenerateFromPassword([]byte(d.Password), bcrypt.MinCost)
	require.NoError(t, err)
	htpasswd := filepath.Join(dir, "htpasswd")
	require.NoError(t, os.WriteFile(htpasswd, []byte(d.User+":"+string(hash)+"\n"), 0o600))
	tlsConf := ""
	if certPEM != nil {
		d.CertDir = filepath.Join(dir, "certs")
		require.NoError(t, os.Mkdir(d.CertDir, 0o755))
		d.CertFile = filepath.Join(d.CertDir, "ca.crt")
		keyFile := filepath.Join(dir, "registry.key")
		require.NoError(t, os.WriteFile(d.CertFile, certPEM, 0o644))
		require.NoError(t, os.WriteFile(keyFile, keyPEM, 0o600))
		tlsConf = fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\n", d.CertFile, keyFile)
	}
	config := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
  secret: itest-not-a-secret
%sauth:
  htpasswd:
    realm: itest
    path: %s
`, d.Storage, d.Host, tlsConf, htpasswd)
	configFile := filepath.Join(dir, "config.yml")
	require.NoError(t, os.WriteFile(configFile, []byte(config), 0o644))
	return configFile
}

// serve starts `bin serve configFile` in dir, stopped when the test ends,
// and returns the channel its exit is sent on.
func (d *Distribution) serve(t testing.TB, bin, dir, configFile string) <-chan error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "serve", configFile)
	cmd.Stdout, cmd.Stderr = d.Log, d.Log
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting docker-registry: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		<-exited
	})
	return exited
}

// waitReady polls /v2/ until the registry answers (200, or 401 for want
// of credentials), for at most 20 seconds; it fails the test if the
// registry exits first.
func (d *Distribution) waitReady(t testing.TB, exited <-chan error, tlsOn bool) {
	t.Helper()
	scheme := "http"
	tr := &http.Transport{}
	if tlsOn {
		scheme = "https"
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // readiness probe only
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Timeout: time.Second, Transport: tr}
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("docker-registry exited early: %v\n%s", err, d.Log)
		default:
		}
		resp, err := client.Get(scheme + "://" + d.Host + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry did not answer on %s within 20s (last error %v)\n%s", d.Host, err, d.Log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freePort asks the kernel for a free port on 127.0.0.1.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// BlobsOnDisk counts the blobs in a Distribution storage directory.
func (d *Distribution) BlobsOnDisk(t testing.TB) int {
	t.Helper()
	n := 0
	root := filepath.Join(d.Storage, "docker", "registry", "v2", "blobs")
	err := filepath.WalkDir(root, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return filepath.SkipDir
			}
			return err
		}
		if !e.IsDir() && strings.HasSuffix(p, string(filepath.Separator)+"data") {
			n++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
