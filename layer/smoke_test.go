package layer

import "testing"

func TestSmoke(t *testing.T) {
	p := writeTemp(t, "x.tar.gz", gzipBytes(t, tarBytes(t, dir("go/"), dir("go/bin/"), reg("go/bin/go", "binary"), hardlink("go/bin/gofmt", "go/bin/go"), symlink("go/link", "bin/go"))))
	l, err := FromTarball(p, WithRoot("/usr/local"))
	if err != nil {
		t.Fatal(err)
	}
	check(t, l)
	t.Log("\n" + summary(entries(t, l)))
	t.Log(l.(*layer).CreatedBy())
}
