package gobin_test

import (
	"fmt"
	"io"
	"os"

	"github.com/stevedore-dev/stevedore/internal/gobin"
)

// A Detector sees a file's bytes as they are copied elsewhere (here, to
// io.Discard), and tells at the end whether it was a Go executable. The
// test binary running this example is one.
func Example() {
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	f, err := os.Open(exe)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	var d gobin.Detector
	if _, err := io.Copy(io.MultiWriter(io.Discard, &d), f); err != nil {
		panic(err)
	}
	info, ok := d.Result()
	fmt.Println(ok, info.Main.Path)

	d.Reset()
	_, _ = io.WriteString(&d, "#!/bin/sh\necho not Go\n")
	_, ok = d.Result()
	fmt.Println(ok, d.Done())
	// Output:
	// true github.com/stevedore-dev/stevedore
	// false true
}
