package cache_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/stevedore-dev/stevedore/internal/cache"
)

func Example() {
	dir, err := os.MkdirTemp("", "cache-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	c, err := cache.Open(dir, cache.WithLimit(1<<30))
	if err != nil {
		log.Fatal(err)
	}
	key := cache.NewKey("example/v1").AddString("greeting").AddInt(1).Sum()

	if _, err := c.Get(key); errors.Is(err, cache.ErrMiss) {
		fmt.Println("first lookup: miss")
	}

	// Produce the blob once, through a Writer, and commit it.
	blob := []byte("hello, cache\n")
	digest, size, err := v1.SHA256(bytes.NewReader(blob))
	if err != nil {
		log.Fatal(err)
	}
	w, err := c.NewWriter()
	if err != nil {
		log.Fatal(err)
	}
	defer w.Abort() // no-op once committed
	if _, err := w.Write(blob); err != nil {
		log.Fatal(err)
	}
	if _, err := w.Commit(key, cache.Meta{Digest: digest, Size: size, MediaType: types.OCILayer}); err != nil {
		log.Fatal(err)
	}

	// Later (or in another process): a hit, read back with verification.
	e, err := c.Get(key)
	if err != nil {
		log.Fatal(err)
	}
	rc, err := e.Open()
	if err != nil {
		log.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("second lookup: %d bytes, %s, %q\n", e.Size, e.MediaType, got)
	// Output:
	// first lookup: miss
	// second lookup: 13 bytes, application/vnd.oci.image.layer.v1.tar+gzip, "hello, cache\n"
}
