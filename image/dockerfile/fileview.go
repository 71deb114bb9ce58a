package dockerfile

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stevedore-dev/stevedore/internal/cache"
	"github.com/stevedore-dev/stevedore/internal/ctxio"
)

// This file is the stand-in for the image package's base file view (what
// an image has at each path): until it lands, the view is computed here by
// reading the layers (v1.Layer.Uncompressed and archive/tar), honouring
// whiteouts and opaque directories. Only paths, types, modes, owners, link
// targets and sizes are kept; content is read on demand.

// Whiteout names, from the OCI image spec (layer.md#whiteouts).
const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
)

// fileInfo is what an image has at a path.
type fileInfo struct {
	Type byte   `json:"t"` // tar typeflag: dir, reg, symlink, link, ...
	Mode int64  `json:"m"` // permission bits (0o7777)
	UID  int    `json:"u,omitempty"`
	GID  int    `json:"g,omitempty"`
	Link string `json:"l,omitempty"` // symlink target, or clean hardlink target name
	Size int64  `json:"s,omitempty"`
	// Implicit: a parent directory the layer does not hold itself (a
	// tar may omit parents); a lower layer's own entry wins over it.
	Implicit bool `json:"i,omitempty"`
	layer    int  // index of the layer that holds it
}

func (f fileInfo) isDir() bool { return f.Type == tar.TypeDir }

// layerIndex is the entries of one layer, by clean relative name.
type layerIndex struct {
	Entries   map[string]fileInfo `json:"entries"`
	Whiteouts []string            `json:"whiteouts,omitempty"` // deleted names
	Opaque    []string            `json:"opaque,omitempty"`    // opaque directories
}

// cleanName is a tar entry name as a clean relative path ("" for the root).
func cleanName(name string) string {
	c := path.Clean("/" + name)
	return strings.TrimPrefix(c, "/")
}

// indexLayer reads the entries of l.
func indexLayer(ctx context.Context, l v1.Layer) (*layerIndex, error) {
	rc, err := l.Uncompressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	li := &layerIndex{Entries: map[string]fileInfo{}}
	tr := tar.NewReader(ctxio.Reader(ctx, rc))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			li.addParents()
			return li, nil
		}
		if err != nil {
			return nil, err
		}
		name := cleanName(h.Name)
		dir, base := path.Split(name)
		switch {
		case name == "":
		case base == whiteoutOpaque:
			li.Opaque = append(li.Opaque, strings.TrimSuffix(dir, "/"))
		case strings.HasPrefix(base, whiteoutPrefix):
			li.Whiteouts = append(li.Whiteouts, dir+strings.TrimPrefix(base, whiteoutPrefix))
		default:
			fi := fileInfo{Type: h.Typeflag, Mode: h.Mode & 0o7777, UID: h.Uid, GID: h.Gid, Size: h.Size, Link: h.Linkname}
			if fi.Type == tar.TypeRegA || fi.Type == tar.TypeGNUSparse {
				fi.Type = tar.TypeReg
			}
			if fi.Type == tar.TypeLink {
				fi.Link = cleanName(h.Linkname)
			}
			li.Entries[name] = fi
		}
	}
}

// addParents adds the parent directories the layer's entries imply.
func (li *layerIndex) addParents() {
	for name := range li.Entries {
		for p := path.Dir(name); p != "." && p != "/"; p = path.Dir(p) {
			if _, ok := li.Entries[p]; !ok {
				li.Entries[p] = fileInfo{Type: tar.TypeDir, Mode: 0o755, Implicit: true}
			}
		}
	}
}

// indexCache keeps layer indexes by diffID for a build, and in the layer
// cache directory across builds when there is one.
type indexCache struct {
	dir string
	mu  sync.Mutex
	mem map[v1.Hash]*layerIndex
}

func newIndexCache(dir string) *indexCache {
	return &indexCache{dir: dir, mem: map[v1.Hash]*layerIndex{}}
}

func indexKey(diffID v1.Hash) string {
	return cache.NewKey("dockerfile/layer-index/v1").AddString(diffID.String()).Sum()
}

// get returns the index of l, computed at most once per diffID.
func (c *indexCache) get(ctx context.Context, l v1.Layer) (*layerIndex, error) {
	diffID, err := l.DiffID()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if li, ok := c.mem[diffID]; ok {
		return li, nil
	}
	if li := c.load(diffID); li != nil {
		c.mem[diffID] = li
		return li, nil
	}
	li, err := indexLayer(ctx, l)
	if err != nil {
		return nil, fmt.Errorf("reading layer %s: %w", diffID, err)
	}
	c.mem[diffID] = li
	c.store(diffID, li)
	return li, nil
}

// load reads an index from the cache directory; any failure is a miss.
func (c *indexCache) load(diffID v1.Hash) *layerIndex {
	if c.dir == "" {
		return nil
	}
	cc, err := cache.Open(c.dir)
	if err != nil {
		return nil
	}
	e, err := cc.Get(indexKey(diffID))
	if err != nil {
		return nil
	}
	rc, err := e.Open()
	if err != nil {
		return nil
	}
	defer rc.Close()
	var li layerIndex
	if err := json.NewDecoder(rc).Decode(&li); err != nil || li.Entries == nil {
		return nil
	}
	return &li
}

// store keeps an index in the cache directory; failures only cost a
// recomputation later.
func (c *indexCache) store(diffID v1.Hash, li *layerIndex) {
	if c.dir == "" {
		return
	}
	raw, err := json.Marshal(li)
	if err != nil {
		return
	}
	cc, err := cache.Open(c.dir)
	if err != nil {
		return
	}
	w, err := cc.NewWriter()
	if err != nil {
		return
	}
	if _, err := w.Write(raw); err != nil {
		w.Abort()
		return
	}
	sum := sha256.Sum256(raw)
	d := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
	if _, err := w.Commit(indexKey(diffID), cache.Meta{Digest: d, Size: int64(len(raw)), CreatedBy: "dockerfile: index of layer " + diffID.String()}); err != nil {
		return
	}
}

// view is the merged file tree of an image's layers, computed on first
// use.
type view struct {
	layers []v1.Layer
	cache  *indexCache
	once   sync.Once
	tree   map[string]fileInfo
	err    error
}

func newView(layers []v1.Layer, c *indexCache) *view {
	return &view{layers: layers, cache: c}
}

// load merges the layers, top-down: an upper entry hides a lower one; a
// whiteout hides the name and everything below; an opaque directory hides
// what lower layers have below it; a non-directory hides what lower
// layers have below its name.
func (v *view) load(ctx context.Context) error {
	v.once.Do(func() {
		tree := map[string]fileInfo{}
		var gone, opaque []string
		for i := len(v.layers) - 1; i >= 0; i-- {
			li, err := v.cache.get(ctx, v.layers[i])
			if err != nil {
				v.err = err
				return
			}
			for name, fi := range li.Entries {
				// An upper entry wins, unless it is implied and this
				// one is the layer's own.
				if have, ok := tree[name]; ok && !(have.Implicit && !fi.Implicit) {
					continue
				}
				if hiddenBy(name, gone, opaque, tree) {
					continue
				}
				fi.layer = i
				tree[name] = fi
			}
			gone = append(gone, li.Whiteouts...)
			opaque = append(opaque, li.Opaque...)
		}
		v.tree = tree
	})
	return v.err
}

// hiddenBy reports whether an entry of a lower layer at name is hidden by
// the layers above: deleted (or under a deleted name), under an opaque
// directory, or under a name they hold as something else than a directory.
func hiddenBy(name string, gone, opaque []string, upper map[string]fileInfo) bool {
	for _, g := range gone {
		if name == g || strings.HasPrefix(name, g+"/") {
			return true
		}
	}
	for _, o := range opaque {
		if strings.HasPrefix(name, o+"/") || o == "" {
			return true
		}
	}
	for p := path.Dir(name); p != "." && p != "/"; p = path.Dir(p) {
		if fi, ok := upper[p]; ok && !fi.isDir() {
			return true
		}
	}
	return false
}

// lstat returns what the image has at the clean relative name, without
// following a symlink at name itself (ancestors must be real directories).
func (v *view) lstat(ctx context.Context, name string) (fileInfo, bool, error) {
	if err := v.load(ctx); err != nil {
		return fileInfo{}, false, err
	}
	if name == "" {
		return fileInfo{Type: tar.TypeDir, Mode: 0o755}, true, nil
	}
	fi, ok := v.tree[name]
	return fi, ok, nil
}

// maxHops bounds symlink resolution, as Linux's 40.
const maxHops = 40

// resolve follows symlinks in every component of the absolute or relative
// slash path p, inside the image's root (an absolute target or ".."
// never leaves it), as docker's COPY resolves paths in a container's
// filesystem. It returns the clean relative name reached and what is
// there; ok is false when that name does not exist (its parent does, or
// the error says).
func (v *view) resolve(ctx context.Context, p string) (string, fileInfo, bool, error) {
	rest := strings.Split(cleanName(p), "/")
	cur := ""
	hops := 0
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		if c == "" || c == "." {
			continue
		}
		next := path.Join(cur, c)
		if c == ".." {
			next = path.Dir(cur)
			if next == "." {
				next = ""
			}
			cur = next
			continue
		}
		fi, ok, err := v.lstat(ctx, next)
		if err != nil {
			return "", fileInfo{}, false, err
		}
		if !ok {
			if len(rest) > 0 {
				return "", fileInfo{}, false, fmt.Errorf("%w: /%s: no such directory in the image", ErrNotFound, next)
			}
			return next, fileInfo{}, false, nil
		}
		if fi.Type == tar.TypeSymlink {
			if hops++; hops > maxHops {
				return "", fileInfo{}, false, fmt.Errorf("/%s: too many levels of symbolic links", next)
			}
			target := fi.Link
			if !path.IsAbs(target) {
				target = path.Join("/", cur, target)
			}
			rest = append(strings.Split(cleanName(target), "/"), rest...)
			cur = ""
			continue
		}
		if len(rest) > 0 && !fi.isDir() {
			return "", fileInfo{}, false, fmt.Errorf("/%s: not a directory in the image", next)
		}
		cur = next
	}
	fi, _, err := v.lstat(ctx, cur)
	return cur, fi, true, err
}

// readFile reads the regular file at p (symlinks followed), at most limit
// bytes.
func (v *view) readFile(ctx context.Context, p string, limit int64) ([]byte, error) {
	name, fi, ok, err := v.resolve(ctx, p)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s in the image", ErrNotFound, p)
	}
	if fi.Type == tar.TypeLink {
		name = fi.Link
		if fi, ok, err = v.lstat(ctx, name); err != nil || !ok {
			return nil, fmt.Errorf("%s: hardlink to a missing /%s", p, name)
		}
	}
	if fi.Type != tar.TypeReg {
		return nil, fmt.Errorf("%s is not a regular file in the image", p)
	}
	if fi.Size > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", p, limit)
	}
	var out []byte
	err = v.stream(ctx, fi.layer, func(n string, h *tar.Header, r io.Reader) (bool, error) {
		if n != name {
			return false, nil
		}
		var b bytes.Buffer
		_, err := io.Copy(&b, io.LimitReader(r, limit))
		out = b.Bytes()
		return true, err
	})
	if err == nil && out == nil {
		err = fmt.Errorf("%s vanished from its layer", p)
	}
	return out, err
}

// stream calls f with each entry of layer i (clean name, header,
// content) until f says it is done.
func (v *view) stream(ctx context.Context, i int, f func(name string, h *tar.Header, r io.Reader) (done bool, err error)) error {
	rc, err := v.layers[i].Uncompressed()
	if err != nil {
		return err
	}
	defer rc.Close()
	tr := tar.NewReader(ctxio.Reader(ctx, rc))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		done, err := f(cleanName(h.Name), h, tr)
		if err != nil || done {
			return err
		}
	}
}
