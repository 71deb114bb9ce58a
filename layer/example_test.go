package layer_test

import (
	"context"
	"fmt"
	"io/fs"
	"log"
	"maps"
	"slices"

	"github.com/stevedore-dev/stevedore/layer"
)

// A fixed tree always gives the same digests, on any machine.
func ExampleFromFiles() {
	l, err := layer.FromFiles([]layer.File{
		{Path: "/app/server", Data: []byte("#!/bin/sh\necho hello\n"), Mode: 0o755},
		{Path: "/app/config.json", Data: []byte(`{"port":8080}`)},
		{Path: "/app/static", Mode: fs.ModeDir | 0o755},
		{Path: "/app/current", Linkname: "server", Mode: fs.ModeSymlink},
	})
	if err != nil {
		log.Fatal(err)
	}
	digest, err := l.Digest()
	if err != nil {
		log.Fatal(err)
	}
	diffID, _ := l.DiffID()
	mt, _ := l.MediaType()
	fmt.Println(digest)
	fmt.Println(diffID)
	fmt.Println(mt)
	// Output:
	// sha256:f7cbec87ec8f6ebd05d5e842d73b506e2be5e7886de5b400925039bc891078cc
	// sha256:4b231efe507d4eee79f3dbe137c3a0b82cfb131152b75b8171f809a61282f425
	// application/vnd.oci.image.layer.v1.tar+gzip
}

// Several sources merge into one layer; source options go to each source,
// layer options to New.
func ExampleNew() {
	l, err := layer.New(context.Background(), []layer.Source{
		layer.Files([]layer.File{{Path: "hello.txt", Data: []byte("hi\n")}}, layer.WithRoot("/srv")),
		layer.Deletions("/etc/motd"),
	}, layer.WithCompression(layer.Zstd))
	if err != nil {
		log.Fatal(err)
	}
	mt, _ := l.MediaType()
	fmt.Println(mt)
	fmt.Println(l.(layer.Describer).CreatedBy())
	// Output:
	// application/vnd.oci.image.layer.v1.tar+zstd
	// stevedore: files 1 -> /srv; delete /etc/motd
}

// An eStargz layer is a gzip layer to every client; its descriptor
// carries the digest of its table of contents, and the files named with
// WithPrioritizedFiles come first, before the prefetch landmark.
func ExampleWithPrioritizedFiles() {
	l, err := layer.FromFiles([]layer.File{
		{Path: "/app/server", Data: []byte("#!/bin/sh\necho hello\n"), Mode: 0o755},
		{Path: "/app/assets/logo.svg", Data: []byte("<svg/>")},
	}, layer.WithCompression(layer.EStargz), layer.WithPrioritizedFiles("/app/server"))
	if err != nil {
		log.Fatal(err)
	}
	mt, _ := l.MediaType()
	fmt.Println(mt)
	anns, err := l.(layer.Annotated).Annotations()
	if err != nil {
		log.Fatal(err)
	}
	for _, k := range slices.Sorted(maps.Keys(anns)) {
		fmt.Println(k)
	}
	printEntries(l, false) // in tar order
	// Output:
	// application/vnd.oci.image.layer.v1.tar+gzip
	// containerd.io/snapshot/stargz/toc.digest
	// io.containers.estargz.uncompressed-size
	// app/
	// app/server
	// .prefetch.landmark
	// app/assets/
	// app/assets/logo.svg
	// stargz.index.json
}
