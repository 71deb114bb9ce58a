package tartest_test

import (
	"archive/tar"
	"bytes"
	"fmt"

	"github.com/stevedore-dev/stevedore/internal/tartest"
)

// A test builds its input stream from entries, then reads it as the code
// under test would.
func Example() {
	s := tartest.New(
		tartest.Dir("app/"),
		tartest.File("app/run", "#!/bin/sh\n").WithMode(0o755).WithOwner(1000, 1000),
		tartest.Symlink("app/sh", "/bin/sh"),
		tartest.Whiteout("app/old"),
		tartest.Opaque("var/cache"),
	).WithFormat(tar.FormatPAX)

	// In a test: b := s.Bytes(t)
	var b bytes.Buffer
	if _, err := s.WriteTo(&b); err != nil {
		fmt.Println(err)
		return
	}
	tr := tar.NewReader(&b)
	for h, err := tr.Next(); err == nil; h, err = tr.Next() {
		fmt.Printf("%c %04o %d:%d %s", h.Typeflag, h.Mode, h.Uid, h.Gid, h.Name)
		if h.Linkname != "" {
			fmt.Printf(" -> %s", h.Linkname)
		}
		fmt.Println()
	}
	// Output:
	// 5 0755 0:0 app/
	// 0 0755 1000:1000 app/run
	// 2 0777 0:0 app/sh -> /bin/sh
	// 0 0644 0:0 app/.wh.old
	// 0 0644 0:0 var/cache/.wh..wh..opq
}
