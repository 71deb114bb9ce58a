package bench

// The plain go-containerregistry ways, written as most blog posts and
// hand-rolled build tools write them: archive/tar and compress/gzip from
// the standard library, tarball.LayerFromReader, mutate, remote. Nothing
// here is tuned; nothing is made slower than it is in that pattern either.

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/moby/patternmatcher"
)

// plainLayerFromReader is tarball.LayerFromReader (go-containerregistry
// v0.22.1, pkg/v1/tarball/layer.go: os.CreateTemp, io.Copy,
// LayerFromFile), with the temp file made in dir so that the benchmark
// can remove it (LayerFromReader never does).
func plainLayerFromReader(dir string, r io.Reader, opts ...tarball.LayerOption) (v1.Layer, error) {
	tmp, err := os.CreateTemp(dir, "")
	if err != nil {
		return nil, err
	}
	defer tmp.Close()
	if _, err := io.Copy(tmp, r); err != nil {
		return nil, err
	}
	return tarball.LayerFromFile(tmp.Name(), opts...)
}

// plainReroot streams the entries of the gzip tarball at gzPath that keep
// accepts, renamed under root, as a new tar stream: the usual
// gzip.NewReader + tar.NewReader + tar.NewWriter loop in a goroutine.
func plainReroot(gzPath, root string, keep func(name string) bool) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(func() error {
			f, err := os.Open(gzPath)
			if err != nil {
				return err
			}
			defer f.Close()
			zr, err := gzip.NewReader(f)
			if err != nil {
				return err
			}
			tr := tar.NewReader(zr)
			tw := tar.NewWriter(pw)
			for {
				hdr, err := tr.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					return err
				}
				if !keep(strings.TrimPrefix(hdr.Name, "./")) {
					continue
				}
				hdr.Name = path.Join(root, hdr.Name)
				if hdr.Typeflag == tar.TypeDir {
					hdr.Name += "/"
				}
				if hdr.Typeflag == tar.TypeLink {
					hdr.Linkname = path.Join(root, hdr.Linkname)
				}
				if err := tw.WriteHeader(hdr); err != nil {
					return err
				}
				if _, err := io.Copy(tw, tr); err != nil {
					return err
				}
			}
			return tw.Close()
		}())
	}()
	return pr
}

// keepGo keeps a Go release's go/... entries.
func keepGo(n string) bool { return n == "go" || n == "go/" || strings.HasPrefix(n, "go/") }

// keepKo keeps a ko release's ko binary.
func keepKo(n string) bool { return n == "ko" }

// plainTarballLayer is the plain way to make a layer of a release tarball
// under a new root.
func plainTarballLayer(spool, gzPath, root string, keep func(string) bool, opts ...tarball.LayerOption) (v1.Layer, error) {
	rc := plainReroot(gzPath, root, keep)
	defer rc.Close()
	return plainLayerFromReader(spool, rc, opts...)
}

// consume reads what a push reads of a layer: its digest, diffID and all
// of its compressed bytes. It records the compressed size in *size.
func consume(l v1.Layer, size *int64) error {
	if _, err := l.Digest(); err != nil {
		return err
	}
	if _, err := l.DiffID(); err != nil {
		return err
	}
	rc, err := l.Compressed()
	if err != nil {
		return err
	}
	n, err := io.Copy(io.Discard, rc)
	*size = n
	return errors.Join(err, rc.Close())
}

// plainDirLayer is the plain way to layer part of a directory: walk the
// whole tree, keep what the patterns match (.dockerignore syntax, as
// stevedore's WithInclude), tar it, tarball.LayerFromReader.
func plainDirLayer(spool, root string, include []string) (v1.Layer, error) {
	pm, err := patternmatcher.New(include)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, err := filepath.Rel(root, p)
			if err != nil || rel == "." {
				return err
			}
			rel = filepath.ToSlash(rel)
			if ok, err := pm.MatchesOrParentMatches(rel); err != nil || !ok {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return err
			}
			hdr, err := tar.FileInfoHeader(fi, "")
			if err != nil {
				return err
			}
			hdr.Name = rel
			if fi.IsDir() {
				hdr.Name += "/"
			}
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			if !fi.Mode().IsRegular() {
				return nil
			}
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(tw, f)
			return err
		})
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	defer pr.Close()
	return plainLayerFromReader(spool, pr)
}

// plainRef parses a reference to the in-process registry.
func plainRef(ref string) (name.Reference, error) {
	return name.ParseReference(ref, name.Insecure)
}

// plainWrite is the plain way to push img as target: remote.Write.
func plainWrite(ctx context.Context, img v1.Image, target string) error {
	tr, err := plainRef(target)
	if err != nil {
		return err
	}
	return remote.Write(tr, img, remote.WithContext(ctx))
}

// plainToolchain is the plain way to build and push the toolchain image:
// remote.Image for the base, tarball layers for Go and ko,
// mutate.AppendLayers, mutate.Config, remote.Write.
func plainToolchain(ctx context.Context, spool, baseRef, target, goGz, koGz string) error {
	br, err := plainRef(baseRef)
	if err != nil {
		return err
	}
	base, err := remote.Image(br, remote.WithContext(ctx))
	if err != nil {
		return err
	}
	goL, err := plainTarballLayer(spool, goGz, "usr/local", keepGo)
	if err != nil {
		return err
	}
	koL, err := plainTarballLayer(spool, koGz, "usr/local/bin", keepKo)
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(base, goL, koL)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	c := cf.Config
	env := []string{"CGO_ENABLED=0", "GOFLAGS=-trimpath"}
	for _, e := range c.Env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			e = "PATH=/usr/local/go/bin:" + v
		}
		env = append(env, e)
	}
	c.Env = env
	c.WorkingDir = "/workspace"
	if img, err = mutate.Config(img, c); err != nil {
		return err
	}
	return plainWrite(ctx, img, target)
}

// plainApp is the plain way to pack a static binary on scratch: tar it,
// tarball.LayerFromReader, mutate.AppendLayers on empty.Image,
// mutate.ConfigFile, remote.Write.
func plainApp(ctx context.Context, spool, bin, target string) error {
	data, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "app/", Mode: 0o755})
		if err == nil {
			err = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "app/hello", Mode: 0o755, Size: int64(len(data))})
		}
		if err == nil {
			_, err = tw.Write(data)
		}
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	l, err := plainLayerFromReader(spool, pr)
	pr.Close()
	if err != nil {
		return err
	}
	return plainPushScratch(ctx, l, "/app/hello", target)
}

// plainPushScratch is the plain way to push one layer on scratch, for
// linux/amd64, with an entrypoint and a non-root user:
// mutate.AppendLayers on empty.Image, mutate.ConfigFile, remote.Write.
func plainPushScratch(ctx context.Context, l v1.Layer, entrypoint, target string) error {
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.Entrypoint = []string{entrypoint}
	cf.Config.User = "65532"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	return plainWrite(ctx, img, target)
}

// plainService is the plain way to build and push the image of one
// service of a monorepo: plainDirLayer, then plainPushScratch.
func plainService(ctx context.Context, spool, root, target string) error {
	l, err := plainDirLayer(spool, root, []string{paymentsDir})
	if err != nil {
		return err
	}
	return plainPushScratch(ctx, l, "/"+paymentsDir+"/bin/payments", target)
}

// clearDir removes the files in dir (spooled temp files).
func clearDir(dir string) {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}
