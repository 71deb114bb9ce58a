package layer_test

import (
	"archive/tar"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"testing/fstest"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/stevedore-dev/stevedore/layer"
)

// A service's directory of a monorepo, placed at /app without its tests,
// as `COPY services/api /app` with a .dockerignore would: directories
// that cannot hold a kept file (node_modules) are not even entered.
func ExampleFromDir() {
	repo, err := os.MkdirTemp("", "monorepo-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(repo)
	for name, data := range map[string]string{
		"services/api/main.go":                  "package main\n",
		"services/api/main_test.go":             "package main\n",
		"services/api/node_modules/left-pad.js": "//\n",
		"services/api/static/index.html":        "<html/>\n",
		"services/api/.dockerignore":            "*_test.go\nnode_modules\n.dockerignore\n",
		"services/billing/main.go":              "package main\n",
	} {
		p := filepath.Join(repo, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			log.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	svc := filepath.Join(repo, "services", "api")
	l, err := layer.FromDir(svc, layer.WithRoot("/app"), layer.WithIgnoreFile(filepath.Join(svc, ".dockerignore")))
	if err != nil {
		log.Fatal(err)
	}
	printEntries(l, false)
	// Output:
	// app/
	// app/main.go
	// app/static/
	// app/static/index.html
}

// An io/fs tree (embed.FS, fstest.MapFS, os.DirFS) with the first path
// component stripped, as from a release archive unpacked in memory, and
// modes set as `COPY --chmod` would: "u+w,a+X" makes the read-only files
// writable by their owner and keeps the program executable.
func ExampleFromFS() {
	fsys := fstest.MapFS{
		"tool-1.2/bin/tool":     {Data: []byte("#!/bin/sh\n"), Mode: 0o555},
		"tool-1.2/share/README": {Data: []byte("hello\n"), Mode: 0o444},
	}
	l, err := layer.FromFS(fsys, layer.WithStripComponents(1), layer.WithRoot("/usr/local"), layer.WithChmod("u+w,a+X"))
	if err != nil {
		log.Fatal(err)
	}
	printEntries(l, true)
	// Output:
	// usr/ 755
	// usr/local/ 755
	// usr/local/bin/ 755
	// usr/local/bin/tool 755
	// usr/local/share/ 755
	// usr/local/share/README 644
}

// printEntries prints the name of each entry of l, and its permission
// bits when modes is set.
func printEntries(l v1.Layer, modes bool) {
	rc, err := l.Uncompressed()
	if err != nil {
		log.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for h, err := tr.Next(); err == nil; h, err = tr.Next() {
		if modes {
			fmt.Printf("%s %o\n", h.Name, fs.FileMode(h.Mode).Perm())
		} else {
			fmt.Println(h.Name)
		}
	}
}
