package e2e

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/itest"
	"github.com/stevedore-dev/stevedore/internal/tartest"
)

// toyboxSource is a busybox-style multi-call program: the applet is the
// name it is called by (argv[0]'s base name), or its first argument when
// called as toybox or hello.
const toyboxSource = `package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "toybox: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	args := os.Args
	applet := filepath.Base(args[0])
	if applet == "toybox" || applet == "hello" {
		args = args[1:]
		if len(args) == 0 {
			fail("no applet")
		}
		applet = args[0]
	}
	args = args[1:]
	switch applet {
	case "echo":
		fmt.Println(strings.Join(args, " "))
	case "cat":
		for _, a := range args {
			b, err := os.ReadFile(a)
			if err != nil {
				fail("%v", err)
			}
			os.Stdout.Write(b)
		}
	case "ls":
		for _, a := range args {
			ents, err := os.ReadDir(a)
			if err != nil {
				fail("%v", err)
			}
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			sort.Strings(names)
			fmt.Println(strings.Join(names, " "))
		}
	case "id":
		fmt.Printf("%d:%d\n", os.Getuid(), os.Getgid())
	case "pwd":
		wd, _ := os.Getwd()
		fmt.Println(wd)
	case "getenv":
		fmt.Println(os.Getenv(args[0]))
	default:
		fail("unknown applet %q", applet)
	}
}
`

var (
	toyboxOnce sync.Once
	toyboxBin  []byte
	toyboxErr  error
	// toyboxDir is removed by TestMain.
	toyboxDir string
)

// toybox returns the bytes of toyboxSource built as a static linux binary
// for this machine's architecture (built once per test binary).
func toybox(t testing.TB) []byte {
	t.Helper()
	goTool := itest.Require(t, "go")[0]
	if runtime.GOOS != "linux" {
		t.Skip("the consumer suite runs linux binaries under runc")
	}
	toyboxOnce.Do(func() {
		dir, err := os.MkdirTemp("", "stevedore-e2e-toybox-")
		if err != nil {
			toyboxErr = err
			return
		}
		toyboxDir = dir
		if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(toyboxSource), 0o644); err != nil {
			toyboxErr = err
			return
		}
		if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module toybox\n\ngo 1.25\n"), 0o644); err != nil {
			toyboxErr = err
			return
		}
		cmd := exec.Command(goTool, "build", "-trimpath", "-ldflags=-s -w", "-o", "toybox", ".")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH, "GOFLAGS=", "GOWORK=off", "GOTOOLCHAIN=local")
		if out, err := cmd.CombinedOutput(); err != nil {
			toyboxErr = fmt.Errorf("go build toybox: %v\n%s", err, out)
			return
		}
		toyboxBin, toyboxErr = os.ReadFile(filepath.Join(dir, "toybox"))
	})
	require.NoError(t, toyboxErr, "building toybox")
	return toyboxBin
}

// inputTime is the mtime of every entry of the tars the tests write.
var inputTime = time.Unix(1600000000, 0)

// tarOf writes entries as a PAX tar whose entries have the mtime
// inputTime unless they set their own.
func tarOf(t testing.TB, ents ...tartest.Entry) []byte {
	t.Helper()
	return tartest.New(ents...).WithModTime(inputTime).WithFormat(tar.FormatPAX).Bytes(t)
}

// busyboxBaseTar is the content of the busybox-style base: the toybox
// binary with applet symlinks, a few /etc files, /tmp, and files the test
// images delete.
func busyboxBaseTar(t testing.TB) []byte {
	t.Helper()
	bin := toybox(t)
	ents := []tartest.Entry{
		tartest.Dir("bin/"),
		tartest.File("bin/toybox", string(bin)).WithMode(0o755),
	}
	for _, a := range []string{"cat", "echo", "id", "ls", "pwd", "getenv"} {
		ents = append(ents, tartest.Symlink("bin/"+a, "toybox"))
	}
	ents = append(ents,
		tartest.Dir("etc/"),
		tartest.File("etc/group", "root:x:0:\napp:x:1000:\n"),
		tartest.File("etc/motd", "welcome to the base\n"),
		tartest.File("etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n"),
		tartest.Dir("tmp/").WithMode(0o1777),
		tartest.Dir("usr/"),
		tartest.Dir("usr/share/"),
		tartest.Dir("usr/share/doc/"),
		tartest.File("usr/share/doc/README", "base docs\n"),
		tartest.Dir("usr/share/doc/old/"),
		tartest.File("usr/share/doc/old/NEWS", "news\n"),
		tartest.Dir("var/"),
		tartest.Dir("var/cache/"),
		tartest.File("var/cache/keep", "keep\n"),
		tartest.Dir("var/cache/old/"),
		tartest.File("var/cache/old/a", "a\n"),
		tartest.File("var/cache/old/b", "b\n").WithMode(0o600),
	)
	return tarOf(t, ents...)
}

// busyboxBaseRootfs is busyboxBaseTar as rootfsListing shows it.
func busyboxBaseRootfs() []string {
	out := []string{"bin d 0755 0:0"}
	for _, a := range []string{"cat", "echo", "getenv", "id", "ls", "pwd"} {
		out = append(out, "bin/"+a+" l 0777 0:0 -> toybox")
	}
	return append(out,
		"bin/toybox f 0755 0:0",
		"etc d 0755 0:0",
		"etc/group f 0644 0:0",
		"etc/motd f 0644 0:0",
		"etc/passwd f 0644 0:0",
		"tmp d 1777 0:0",
		"usr d 0755 0:0",
		"usr/share d 0755 0:0",
		"usr/share/doc d 0755 0:0",
		"usr/share/doc/README f 0644 0:0",
		"usr/share/doc/old d 0755 0:0",
		"usr/share/doc/old/NEWS f 0644 0:0",
		"var d 0755 0:0",
		"var/cache d 0755 0:0",
		"var/cache/keep f 0644 0:0",
		"var/cache/old d 0755 0:0",
		"var/cache/old/a f 0644 0:0",
		"var/cache/old/b f 0600 0:0",
	)
}

// plainOCIBase builds the busybox-style base the plain go-containerregistry
// way, as an OCI image: a tarball layer typed OCI, OCI manifest and config
// media types. It is a base no code of ours made.
func plainOCIBase(t testing.TB) v1.Image {
	t.Helper()
	// Not validated here: ggcr's tarball layer describes itself with an
	// empty annotations map that its own validate.Image calls a mismatch.
	// The test validates the base as pulled back from the registry.
	return plainOCIImage(t, busyboxBaseTar(t), inputTime, "PATH=/usr/local/bin:/usr/bin:/bin")
}

// plainOCIImage is the image of one layer, the tar raw, made with ggcr
// alone in OCI media types, for this machine's linux platform, created
// at created, with env.
func plainOCIImage(t testing.TB, raw []byte, created time.Time, env ...string) v1.Image {
	t.Helper()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(raw)), nil
	}, tarball.WithMediaType(types.OCILayer))
	require.NoError(t, err)
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.AppendLayers(img, l)
	require.NoError(t, err)
	cf, err := img.ConfigFile()
	require.NoError(t, err)
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	if len(env) > 0 {
		cf.Config.Env = env
	}
	cf.Created = v1.Time{Time: created.UTC()}
	img, err = mutate.ConfigFile(img, cf)
	require.NoError(t, err)
	return img
}

// rootfsListing lists dir (an unpacked rootfs) one line per entry, sorted:
// "path type mode uid:gid", type f, d, l (with "-> target"), p (fifo),
// c or b (devices).
func rootfsListing(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := itest.WalkRootfs(dir, func(e itest.RootfsEntry) error {
		typ, ok := listingTypes[e.Type]
		if !ok {
			typ = "f"
		}
		line := fmt.Sprintf("%s %s %04o %d:%d", e.Path, typ, e.Perm, e.Uid, e.Gid)
		if e.Type == tar.TypeSymlink {
			line += " -> " + e.Link
		}
		out = append(out, line)
		return nil
	})
	require.NoError(t, err, "listing %s", dir)
	slices.Sort(out)
	return out
}

// listingTypes are the type letters of rootfsListing, by tar type; any
// other entry is listed as "f".
var listingTypes = map[byte]string{
	tar.TypeReg: "f", tar.TypeDir: "d", tar.TypeSymlink: "l", tar.TypeFifo: "p", tar.TypeChar: "c", tar.TypeBlock: "b",
}

// checkRootfs compares an unpacked rootfs with the expected listing and
// the expected contents of some files.
func checkRootfs(t testing.TB, what, rootfs string, want []string, contents map[string]string) {
	t.Helper()
	got := rootfsListing(t, rootfs)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Errorf("%s: unpacked rootfs differs\n%s", what, listDiff(got, want))
	}
	for p, w := range contents {
		b, err := os.ReadFile(filepath.Join(rootfs, filepath.FromSlash(p)))
		if assert.NoError(t, err, "%s: reading %s from the rootfs", what, p) {
			assert.Equal(t, w, string(b), "%s: content of %s", what, p)
		}
	}
}

// listDiff renders the lines only in got (+) and only in want (-).
func listDiff(got, want []string) string {
	var b strings.Builder
	for _, g := range got {
		if !slices.Contains(want, g) {
			fmt.Fprintf(&b, "  + %s\n", g)
		}
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			fmt.Fprintf(&b, "  - %s\n", w)
		}
	}
	return b.String()
}

// layoutDigest returns the digest of the entry named ref in the OCI
// layout dir's index.json.
func layoutDigest(t testing.TB, dir, ref string) v1.Hash {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	require.NoError(t, err)
	var idx v1.IndexManifest
	require.NoError(t, json.Unmarshal(b, &idx), "parsing %s/index.json", dir)
	for _, d := range idx.Manifests {
		if d.Annotations["org.opencontainers.image.ref.name"] == ref {
			return d.Digest
		}
	}
	t.Fatalf("%s/index.json has no entry named %q: %s", dir, ref, b)
	return v1.Hash{}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func digestOf(t testing.TB, a interface{ Digest() (v1.Hash, error) }) v1.Hash {
	t.Helper()
	d, err := a.Digest()
	require.NoError(t, err)
	return d
}

// hashReader returns the sha256 (hex) and the length of what r holds.
func hashReader(r io.Reader) (string, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	return hex.EncodeToString(h.Sum(nil)), n, err
}
