package image_test

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log"

	"github.com/stevedore-dev/stevedore/image"
	"github.com/stevedore-dev/stevedore/layer"
)

// Paths resolved as a container sees them, and the contents of several
// files read together: each layer that holds one is read once.
func ExampleTree_ReadFiles() {
	ctx := context.Background()
	l, err := layer.FromFiles([]layer.File{
		{Path: "/usr/lib/os-release", Data: []byte("ID=demo\n")},
		{Path: "/etc/os-release", Mode: fs.ModeSymlink, Linkname: "../usr/lib/os-release"},
		{Path: "/etc/hostname", Data: []byte("box\n")},
	})
	if err != nil {
		log.Fatal(err)
	}
	img, err := image.Build(ctx, nil, image.WithLayers(l))
	if err != nil {
		log.Fatal(err)
	}
	tree, err := image.NewTree(img, "")
	if err != nil {
		log.Fatal(err)
	}
	if err := tree.Load(ctx); err != nil {
		log.Fatal(err)
	}
	for _, name := range []string{"/etc/os-release", "/etc/missing", "/etc/../../etc/hostname"} {
		p, n, ok, err := tree.Resolve(name)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(name, "->", p, ok, n.Size)
	}
	err = tree.ReadFiles(ctx, []string{"/etc/os-release", "/etc/hostname"}, func(name string, r io.Reader) error {
		b, err := io.ReadAll(r)
		fmt.Printf("%s: %q\n", name, b)
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	// Output:
	// /etc/os-release -> usr/lib/os-release true 8
	// /etc/missing -> etc/missing false 0
	// /etc/../../etc/hostname -> etc/hostname true 4
	// /etc/hostname: "box\n"
	// /etc/os-release: "ID=demo\n"
}
