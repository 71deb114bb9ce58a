package layer

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path"
	"slices"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/stevedore-dev/stevedore/internal/lazypull"
	"github.com/stevedore-dev/stevedore/internal/lazypull/lazypulltest"
	"github.com/stevedore-dev/stevedore/internal/tartest"
)

var lazyCompressions = []Compression{EStargz, ZstdChunked}

// lazySources are the sources of the lazy format tests: a tarball of
// every entry type, with a file of several of the formats' 4 MiB chunks,
// placed under /opt; in-memory files; and a deletion (a whiteout).
func lazySources(t testing.TB) []Source {
	tb := tartest.TempFile(t, "app.tar", tartest.Bytes(t,
		tartest.Dir("app/"),
		tartest.File("app/hello", "#!/bin/sh\necho hello\n").WithMode(0o755),
		tartest.File("app/empty", ""),
		tartest.File("app/big.bin", string(tartest.Noise(rand.NewPCG(1, 7), 9<<20+123))),
		tartest.Symlink("app/link", "hello"),
		tartest.Hardlink("app/hard", "app/hello"),
		tartest.File("app/owned", "mine").WithMode(0o600).WithOwner(1000, 1000),
	))
	return []Source{
		Tarball(tb, WithRoot("/opt"), WithPreserveOwner()),
		Files([]File{{Path: "/etc/conf", Data: []byte("k=v\n")}, {Path: "/etc/motd", Data: []byte("hi\n"), Mode: 0o640}}),
		Deletions("/old"),
	}
}

func newLazy(t testing.TB, srcs []Source, opts ...LayerOption) v1.Layer {
	t.Helper()
	l, err := New(context.Background(), srcs, opts...)
	require.NoError(t, err)
	return l
}

func blobOf(t testing.TB, l v1.Layer) []byte {
	t.Helper()
	rc, err := l.Compressed()
	require.NoError(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	return b
}

func annotationsOf(t testing.TB, l v1.Layer) map[string]string {
	t.Helper()
	a, ok := l.(Annotated)
	require.True(t, ok, "%T is not Annotated", l)
	anns, err := a.Annotations()
	require.NoError(t, err)
	return anns
}

// entryLine is one tar entry in a form both readers give: clean name,
// type, mode, owner, link target, content digest.
func entryLine(name string, typ byte, mode int64, uid, gid int, link string, body []byte) string {
	return fmt.Sprintf("%s %c %o %d:%d %s %s", path.Clean("/" + name)[1:], typ, mode, uid, gid, link, sha(body))
}

func sha(b []byte) string { return fmt.Sprintf("sha256:%x", sha256.Sum256(b)) }

// TestLazyFormats builds each lazy format from the same sources, with
// and without prioritized files, and checks it as its consumers would:
// the library's reader verifies the TOC against the layer's annotation
// and every chunk against the TOC, the TOC lists exactly the tar's files,
// and the tar holds what the gzip layer of the same sources holds, plus
// the format's landmark, in the same order unless files are prioritized.
func TestLazyFormats(t *testing.T) {
	var plain []string
	for _, g := range entries(t, newLazy(t, lazySources(t))) {
		plain = append(plain, entryLine(g.Name, g.Type, g.Mode, g.UID, g.GID, g.Link, []byte(g.Body)))
	}
	for _, c := range lazyCompressions {
		for _, tc := range []struct {
			name        string
			prioritized []string
			first       []string // the entries before the landmark
			landmark    string
		}{
			{"plain", nil, nil, lazypull.NoPrefetchLandmark},
			{"prioritized", []string{"/opt/app/hard", "etc/conf"},
				[]string{".wh.old", "opt", "opt/app", "opt/app/hello", "opt/app/hard", "etc", "etc/conf"}, lazypull.PrefetchLandmark},
		} {
			t.Run(c.String()+"/"+tc.name, func(t *testing.T) {
				var opts []LayerOption
				if tc.prioritized != nil {
					opts = append(opts, WithPrioritizedFiles(tc.prioritized...))
				}
				l := newLazy(t, lazySources(t), append(opts, WithCompression(c))...)
				check(t, l)
				mt, err := l.MediaType()
				require.NoError(t, err)
				assert.Equal(t, map[Compression]types.MediaType{EStargz: types.OCILayer, ZstdChunked: types.OCILayerZStd}[c], mt, "MediaType()")

				anns := annotationsOf(t, l)
				got := lazypulltest.VerifyLayer(t, l, anns)
				var names, lines []string
				for _, e := range got {
					names = append(names, e.Name)
					if e.Name != tc.landmark {
						lines = append(lines, entryLine(e.Name, e.Type, e.Mode, e.UID, e.GID, e.Linkname, e.Body))
					}
				}
				require.Greater(t, len(names), len(tc.first))
				assert.Equal(t, append(slices.Clone(tc.first), tc.landmark), names[:len(tc.first)+1], "first entries")
				if tc.prioritized == nil {
					assert.Equal(t, plain, lines, "entries = the gzip layer's, in its order")
				} else {
					assert.ElementsMatch(t, plain, lines, "entries = the gzip layer's")
				}
				checkAnnotationKeys(t, c, anns)
				d, err := partial.Descriptor(l)
				require.NoError(t, err)
				digest, _ := l.Digest()
				size, _ := l.Size()
				assert.Equal(t, &v1.Descriptor{MediaType: mt, Size: size, Digest: digest, Annotations: anns}, d, "partial.Descriptor()")
			})
		}
	}
}

// checkAnnotationKeys checks that the layer has the annotations of its
// format, and only those.
func checkAnnotationKeys(t testing.TB, c Compression, anns map[string]string) {
	t.Helper()
	want := []string{lazypull.AnnotationTOCDigest, lazypull.AnnotationUncompressedSize}
	if c == ZstdChunked {
		want = append(want, lazypull.AnnotationZstdChunkedManifestChecksum, lazypull.AnnotationZstdChunkedManifestPosition)
	}
	var keys []string
	for k := range anns {
		keys = append(keys, k)
	}
	assert.ElementsMatch(t, want, keys, "annotation keys")
}

// TestLazyPlainHaveNoAnnotations: the other compressions have no
// annotations, and say so without building.
func TestLazyPlainHaveNoAnnotations(t *testing.T) {
	builds := countBuilds(t)
	for _, c := range []Compression{Gzip, Zstd, Uncompressed} {
		*builds = 0
		l := newLazy(t, lazySources(t), WithCompression(c))
		assert.Nil(t, annotationsOf(t, l), "Annotations() of a %v layer", c)
		assert.Zero(t, *builds, "Annotations() of a %v layer built it", c)
		d, err := partial.Descriptor(l)
		require.NoError(t, err)
		assert.Nil(t, d.Annotations, "partial.Descriptor(%v layer).Annotations", c)
	}
}

// TestLazyReproducible builds each format twice, with different temp
// dirs and concurrency, and once more through the cache: same digest,
// diffID and annotations (so the same TOC digest). The cache hit builds
// nothing and gives the same descriptor and file list.
func TestLazyReproducible(t *testing.T) {
	for _, c := range lazyCompressions {
		t.Run(c.String(), func(t *testing.T) {
			opts := []LayerOption{WithCompression(c), WithPrioritizedFiles("/etc/motd")}
			a := newLazy(t, lazySources(t), append(opts, WithTempDir(t.TempDir()), WithConcurrency(1))...)
			b := newLazy(t, lazySources(t), append(opts, WithTempDir(t.TempDir()), WithConcurrency(7))...)
			cacheDir, srcs := t.TempDir(), lazySources(t)
			built := newLazy(t, srcs, append(opts, WithCache(cacheDir))...)
			descs := []*v1.Descriptor{descriptor(t, a), descriptor(t, b), descriptor(t, built)}
			builds := countBuilds(t)
			hit := newLazy(t, srcs, append(opts, WithCache(cacheDir))...)
			descs = append(descs, descriptor(t, hit))
			assert.Zero(t, *builds, "builds of a cache hit")
			for i, d := range descs[1:] {
				assert.Equal(t, descs[0], d, "descriptor of build %d", i+1)
			}
			for _, l := range []v1.Layer{b, built, hit} {
				d0, _ := a.DiffID()
				d, _ := l.DiffID()
				assert.Equal(t, d0, d, "DiffID()")
			}
			want, err := a.(Lister).Files(t.Context())
			require.NoError(t, err)
			got, err := hit.(Lister).Files(t.Context())
			require.NoError(t, err)
			assert.Equal(t, want, got, "Files() of the cache hit")
			check(t, hit)
		})
	}
}

func descriptor(t testing.TB, l v1.Layer) *v1.Descriptor {
	t.Helper()
	d, err := partial.Descriptor(l)
	require.NoError(t, err)
	return d
}

// TestLazyGolden pins the digests of small lazy layers, so that a change
// in the pipeline, the library or the options that changes the bytes is
// seen.
func TestLazyGolden(t *testing.T) {
	for _, tc := range []struct {
		c                 Compression
		digest, tocDigest string
	}{
		{EStargz, "sha256:08123920d50bcf686e40bdb50d48f0f48969b45412c9178680c7b6b48d880aaf",
			"sha256:335484269424cc4ff013313feb18f19504a1a046d3b565563aab99d384030b6f"},
		{ZstdChunked, "sha256:6f6847b9697bc8698dd25d7d6831548be903ff36c7f90826de0ba3bc03bf62cd",
			"sha256:3ae14675317729ace86c6744f576e6fa922012dd0f901048707f882385f6d419"},
	} {
		l := newLazy(t, []Source{Files(goldenFiles)}, WithCompression(tc.c), WithPrioritizedFiles("/app/server"))
		d, err := l.Digest()
		require.NoError(t, err)
		assert.Equal(t, tc.digest, d.String(), "Digest() of the %v layer", tc.c)
		assert.Equal(t, tc.tocDigest, annotationsOf(t, l)[lazypull.AnnotationTOCDigest], "TOC digest of the %v layer", tc.c)
	}
}

// TestLazyFiles: Files lists what the blob decompresses to, the format's
// own files included, read from the TOC; a spooled layer and a cached
// one agree.
func TestLazyFiles(t *testing.T) {
	for _, c := range lazyCompressions {
		for _, cached := range []bool{false, true} {
			opts := []LayerOption{WithCompression(c)}
			if cached {
				opts = append(opts, WithCache(t.TempDir()))
			}
			l := newLazy(t, lazySources(t), opts...)
			var want []string
			for _, g := range entries(t, l) {
				want = append(want, fmt.Sprintf("%s %c %o %d:%d %s", path.Clean("/" + g.Name)[1:], g.Type, g.Mode, g.UID, g.GID, g.Link))
			}
			files, err := l.(Lister).Files(t.Context())
			require.NoError(t, err)
			var got []string
			for _, f := range files {
				got = append(got, fmt.Sprintf("%s %c %o %d:%d %s", f.Name, f.Type, f.Mode, f.UID, f.GID, f.Linkname))
			}
			assert.Equal(t, want, got, "Files() of the %v layer (cached %v)", c, cached)
		}
	}
}

// TestLazyPlanPass: when the entries need a plan (two sources place the
// same file), the first pass's tar is thrown away before a blob is
// made, the layer is written again, and no temp file is left.
func TestLazyPlanPass(t *testing.T) {
	for _, c := range lazyCompressions {
		t.Run(c.String(), func(t *testing.T) {
			tmp, spool := t.TempDir(), t.TempDir()
			t.Setenv("TMPDIR", tmp)
			builds := countBuilds(t)
			l := newLazy(t, []Source{
				Files([]File{{Path: "/etc/conf", Data: []byte("first\n")}}),
				Files([]File{{Path: "/etc/conf", Data: []byte("second\n")}}),
			}, WithCompression(c), WithTempDir(spool))
			check(t, l)
			assert.Equal(t, 2, *builds, "writing passes")
			var bodies []string
			for _, e := range lazypulltest.VerifyLayer(t, l, annotationsOf(t, l)) {
				if e.Name == "etc/conf" {
					bodies = append(bodies, string(e.Body))
				}
			}
			assert.Equal(t, []string{"second\n"}, bodies, "etc/conf in the layer")
			assertEmptyDirs(t, tmp, spool)
		})
	}
}

func assertEmptyDirs(t testing.TB, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		ents, err := os.ReadDir(d)
		require.NoError(t, err)
		assert.Empty(t, ents, "files left in %s", d)
	}
}

// TestLazyCancel cancels the build of a lazy layer at various moments,
// while the tar is written and while the blob is made: the build fails
// with the context's error (or finishes), and no temp file is left, in
// TMPDIR (where the estargz library writes its parts) or WithTempDir.
func TestLazyCancel(t *testing.T) {
	big := tartest.Noise(rand.NewPCG(2, 7), 24<<20)
	for _, c := range lazyCompressions {
		for _, delay := range []time.Duration{0, time.Millisecond, 20 * time.Millisecond, 80 * time.Millisecond, 200 * time.Millisecond} {
			t.Run(fmt.Sprintf("%v/%v", c, delay), func(t *testing.T) {
				tmp, spool := t.TempDir(), t.TempDir()
				t.Setenv("TMPDIR", tmp)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				l, err := New(ctx, []Source{Files([]File{{Path: "/big", Data: big}, {Path: "/small", Data: []byte("s")}})},
					WithCompression(c), WithTempDir(spool))
				require.NoError(t, err)
				timer := time.AfterFunc(delay, cancel)
				defer timer.Stop()
				_, err = l.Digest()
				if err != nil {
					assert.ErrorIs(t, err, context.Canceled, "Digest() cancelled after %v", delay)
				}
				assertEmptyDirs(t, tmp, spool)
			})
		}
	}
}

// TestLazyOptions checks the options' rules for the lazy formats.
func TestLazyOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []LayerOption
		mt   types.MediaType // "" when New must fail
	}{
		{"estargz", []LayerOption{WithCompression(EStargz)}, types.OCILayer},
		{"zstd:chunked", []LayerOption{WithCompression(ZstdChunked)}, types.OCILayerZStd},
		{"estargz docker type", []LayerOption{WithCompression(EStargz), WithMediaType(types.DockerLayer)}, types.DockerLayer},
		{"estargz level 9", []LayerOption{WithCompression(EStargz), WithLevel(9)}, types.OCILayer},
		{"zstd:chunked level 19", []LayerOption{WithCompression(ZstdChunked), WithLevel(19)}, types.OCILayerZStd},
		{"estargz level 10", []LayerOption{WithCompression(EStargz), WithLevel(10)}, ""},
		{"estargz zstd type", []LayerOption{WithCompression(EStargz), WithMediaType(types.OCILayerZStd)}, ""},
		{"zstd:chunked gzip type", []LayerOption{WithCompression(ZstdChunked), WithMediaType(types.OCILayer)}, ""},
		{"prioritized with gzip", []LayerOption{WithPrioritizedFiles("/a")}, ""},
		{"prioritized with zstd", []LayerOption{WithCompression(Zstd), WithPrioritizedFiles("/a")}, ""},
		{"no prioritized path", []LayerOption{WithCompression(EStargz), WithPrioritizedFiles()}, ""},
		{"prioritized root", []LayerOption{WithCompression(EStargz), WithPrioritizedFiles("/")}, ""},
		{"prioritized NUL", []LayerOption{WithCompression(EStargz), WithPrioritizedFiles("a\x00b")}, ""},
		{"unknown compression", []LayerOption{WithCompression(Compression(42))}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := New(context.Background(), []Source{Files(goldenFiles)}, tc.opts...)
			if tc.mt == "" {
				assert.ErrorIs(t, err, ErrInvalidOption, "New(%s)", tc.name)
				return
			}
			require.NoError(t, err, "New(%s)", tc.name)
			mt, _ := l.MediaType()
			assert.Equal(t, tc.mt, mt, "New(%s).MediaType()", tc.name)
			check(t, l)
		})
	}
	for c, want := range map[Compression]string{EStargz: "estargz", ZstdChunked: "zstd:chunked", Gzip: "gzip"} {
		assert.Equal(t, want, c.String(), "Compression(%d).String()", int(c))
	}
}

// TestLazyTarballOfLazyLayer: the blob of a lazy layer is a tarball
// source like any other (FromTarball reads gzip and zstd): made lazy
// again, its old TOC and landmark are replaced, not kept twice.
func TestLazyTarballOfLazyLayer(t *testing.T) {
	for _, c := range lazyCompressions {
		first := newLazy(t, lazySources(t), WithCompression(c))
		p := tartest.TempFile(t, "layer.blob", blobOf(t, first))
		again := newLazy(t, []Source{Tarball(p, WithPreserveOwner())}, WithCompression(c))
		check(t, again)
		got := lazypulltest.VerifyLayer(t, again, annotationsOf(t, again))
		want := lazypulltest.VerifyLayer(t, first, annotationsOf(t, first))
		names := func(es []lazypulltest.Entry) []string {
			var out []string
			for _, e := range es {
				out = append(out, e.Name)
			}
			return out
		}
		assert.Equal(t, names(want), names(got), "entries of the %v layer made from a %v blob", c, c)
	}
}

// putCapture is a RemoteCache that misses and keeps what it is given.
type putCapture struct{ put v1.Layer }

func (*putCapture) Lookup(context.Context, string) (v1.Layer, bool, error) { return nil, false, nil }
func (p *putCapture) Put(_ context.Context, _ string, l v1.Layer) (v1.Layer, error) {
	p.put = l
	return l, nil
}

// TestLazyRemotePutUncompressed: the layer a remote cache is given to
// store reads back as the tar of its diffID, as the layer itself does (an
// eStargz blob is gzip, a zstd:chunked one zstd).
func TestLazyRemotePutUncompressed(t *testing.T) {
	for _, c := range lazyCompressions {
		t.Run(c.String(), func(t *testing.T) {
			rc := &putCapture{}
			l := newLazy(t, lazySources(t), WithCompression(c), WithCache(t.TempDir()), WithRemoteCache(rc))
			diffID, err := l.DiffID()
			require.NoError(t, err)
			require.NotNil(t, rc.put, "the layer given to Put")
			r, err := rc.put.Uncompressed()
			require.NoError(t, err)
			defer r.Close()
			h := sha256.New()
			_, err = io.Copy(h, r)
			require.NoError(t, err)
			assert.Equal(t, diffID.Hex, fmt.Sprintf("%x", h.Sum(nil)), "sha256 of the put layer's Uncompressed")
		})
	}
}
