package lazypull_test

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"log"
	"maps"
	"slices"

	"github.com/stevedore-dev/stevedore/internal/lazypull"
)

// Write turns a tar into an eStargz blob with the entrypoint first;
// ReadTOC lists the blob's entries from its table of contents.
func Example() {
	var in bytes.Buffer
	tw := tar.NewWriter(&in)
	// Prioritized files need their parent directories in the tar.
	_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "app/", Mode: 0o755})
	for _, f := range []struct{ name, body string }{{"etc/motd", "hi\n"}, {"app/run", "#!/bin/sh\n"}} {
		_ = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: 0o755, Size: int64(len(f.body))})
		_, _ = tw.Write([]byte(f.body))
	}
	_ = tw.Close()

	var blob bytes.Buffer
	res, err := lazypull.Write(context.Background(), &blob, &in, lazypull.EStargz,
		lazypull.WithPrioritizedFiles("/app/run"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("annotations:", slices.Sorted(maps.Keys(res.Annotations)))
	fmt.Println("diffID is the input's digest:", res.DiffID == res.InputDigest)
	fmt.Println("missing:", res.MissingPrioritized)

	toc, err := lazypull.ReadTOC(bytes.NewReader(blob.Bytes()), int64(blob.Len()))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("TOC digest matches:", toc.Verify(res.Annotations) == nil)
	for _, e := range toc.Entries {
		fmt.Printf("%c %s %d\n", e.Typeflag, e.Name, e.Size)
	}
	// Output:
	// annotations: [containerd.io/snapshot/stargz/toc.digest io.containers.estargz.uncompressed-size]
	// diffID is the input's digest: false
	// missing: []
	// TOC digest matches: true
	// 5 app 0
	// 0 app/run 10
	// 0 .prefetch.landmark 1
	// 0 etc/motd 3
}
