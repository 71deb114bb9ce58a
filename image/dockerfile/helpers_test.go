package dockerfile

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/layer"
)

// writeTree writes a context: path -> content. A path ending in "/" is a
// directory; content "-> target" makes a symlink; a content starting with
// "#!" makes an executable (0755), else files are 0644.
func writeTree(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if strings.HasSuffix(name, "/") {
			require.NoError(t, os.MkdirAll(p, 0o755))
			require.NoError(t, os.Chmod(p, 0o755))
			continue
		}
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		if target, ok := strings.CutPrefix(content, "-> "); ok {
			require.NoError(t, os.Symlink(target, p))
			continue
		}
		mode := os.FileMode(0o644)
		if strings.HasPrefix(content, "#!") {
			mode = 0o755
		}
		require.NoError(t, os.WriteFile(p, []byte(content), mode))
		require.NoError(t, os.Chmod(p, mode))
	}
}

// newContext writes files to a temp dir and returns it.
func newContext(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	writeTree(t, dir, files)
	return dir
}

// mustBuild builds dockerfile in the context dir and validates the image.
func mustBuild(t testing.TB, dir, dockerfile string, opts ...Option) v1.Image {
	t.Helper()
	img, err := buildIn(t, dir, dockerfile, opts...)
	require.NoError(t, err, "Build of:\n%s", dockerfile)
	require.NoError(t, validate.Image(img), "validate.Image")
	return img
}

func buildIn(t testing.TB, dir, dockerfile string, opts ...Option) (v1.Image, error) {
	t.Helper()
	all := append([]Option{WithContextDir(dir), WithDockerfileContent([]byte(dockerfile)), WithPlatforms("linux/amd64")}, opts...)
	return Build(context.Background(), all...)
}

// entry is what a flattened image has at a path.
type entry struct {
	Type     byte
	Mode     int64
	UID, GID int
	Link     string
	Body     string
}

func (e entry) String() string {
	s := fmt.Sprintf("%c %o %d:%d", e.Type, e.Mode, e.UID, e.GID)
	if e.Link != "" {
		s += " -> " + e.Link
	}
	if e.Type == tar.TypeReg {
		s += fmt.Sprintf(" %q", e.Body)
	}
	return s
}

// files flattens img (whiteouts applied, as a container sees it).
func files(t testing.TB, img v1.Image) map[string]entry {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	out := map[string]entry{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		b, err := io.ReadAll(tr)
		require.NoError(t, err)
		out[strings.TrimSuffix(cleanName(h.Name), "/")] = entry{Type: h.Typeflag, Mode: h.Mode & 0o7777, UID: h.Uid, GID: h.Gid, Link: h.Linkname, Body: string(b)}
	}
}

// listing renders files as sorted "path: entry" lines, for paths with
// one of the prefixes (all when none).
func listing(fs map[string]entry, prefixes ...string) string {
	var names []string
	for n := range fs {
		keep := len(prefixes) == 0
		for _, p := range prefixes {
			keep = keep || n == p || strings.HasPrefix(n, p+"/")
		}
		if keep {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "%s: %s\n", n, fs[n])
	}
	return b.String()
}

// configOf returns img's config file.
func configOf(t testing.TB, img v1.Image) *v1.ConfigFile {
	t.Helper()
	cf, err := img.ConfigFile()
	require.NoError(t, err)
	return cf
}

// baseFile is one file of a test base image.
type baseFile = layer.File

// baseImage makes a base image for platform from files, with cfg's
// config, as a registry would serve one.
func baseImage(t testing.TB, platform string, cfg v1.Config, fs ...baseFile) v1.Image {
	t.Helper()
	var opts []image.Option
	if len(fs) > 0 {
		l, err := layer.FromFiles(fs)
		require.NoError(t, err)
		opts = append(opts, image.WithLayers(l))
	}
	opts = append(opts, image.WithPlatform(platform), image.WithConfig(func(cf *v1.ConfigFile) error {
		cf.Config = cfg
		return nil
	}))
	img, err := image.Build(context.Background(), nil, opts...)
	require.NoError(t, err)
	return img
}

// resolverOf resolves references to the images of m (by reference, then
// by reference|platform).
func resolverOf(m map[string]v1.Image) Resolver {
	return func(_ context.Context, ref string, p v1.Platform) (v1.Image, error) {
		if img, ok := m[ref+"|"+platformString(p)]; ok {
			return img, nil
		}
		if img, ok := m[ref]; ok {
			return img, nil
		}
		return nil, fmt.Errorf("no image %s for %s", ref, platformString(p))
	}
}

// debianish is a base image like a Debian one: passwd and group, a 1777
// /tmp, a 0700 /root, merged /usr (/lib -> usr/lib), a PATH.
func debianish(t testing.TB, platform string) v1.Image {
	t.Helper()
	return baseImage(t, platform, v1.Config{
		Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"},
		Cmd: []string{"bash"},
	},
		baseFile{Path: "/etc/passwd", Data: []byte("root:x:0:0:root:/root:/bin/bash\nnode:x:1000:1000::/home/node:/bin/bash\napp:x:1001:50::/app:/bin/false\n")},
		baseFile{Path: "/etc/group", Data: []byte("root:x:0:\nstaff:x:50:app\nnode:x:1000:\n")},
		baseFile{Path: "/tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777},
		baseFile{Path: "/root", Mode: fs.ModeDir | 0o700},
		baseFile{Path: "/usr/lib/libc.so", Data: []byte("libc")},
		baseFile{Path: "/usr/local/bin", Mode: fs.ModeDir | 0o755},
		baseFile{Path: "/lib", Mode: fs.ModeSymlink | 0o777, Linkname: "usr/lib"},
		baseFile{Path: "/home/node", Mode: fs.ModeDir | 0o755},
	)
}
