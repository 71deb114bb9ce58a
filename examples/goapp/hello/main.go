// Command hello is the program examples/goapp packs when it is given no
// -pkg: it says hello and where it runs.
package main

import (
	"fmt"
	"os"
	"runtime"
)

func main() {
	fmt.Printf("hello from a stevedore image (%s/%s, uid %d)\n", runtime.GOOS, runtime.GOARCH, os.Getuid())
}
