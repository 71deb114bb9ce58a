package image

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stevedore-dev/stevedore/layer"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// workDirLayer returns the layer of WithWorkDir: dir and its parents as
// 0755 directories owned by 0:0, with mtime the image's created time.
func workDirLayer(dir string, mtime time.Time) (v1.Layer, error) {
	l, err := layer.FromFiles([]layer.File{{Path: dir, Mode: fs.ModeDir | 0o755}}, layer.WithModTime(mtime))
	if err != nil {
		return nil, fmt.Errorf("image: working directory layer %s: %w", dir, err)
	}
	return l, nil
}
