//go:build linux

package exampletest

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// Watcher reports, with inotify, every open and read of the directories it
// watches and of the files in them. (A stat is not reported by inotify;
// listing a directory is, since it needs an open.)
type Watcher struct {
	fd    int
	paths map[int32]string // watch descriptor -> directory
}

// Watch starts watching dirs (not recursively) until the test ends.
func Watch(t testing.TB, dirs ...string) *Watcher {
	t.Helper()
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err != nil {
		t.Fatalf("inotify_init1: %v", err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	w := &Watcher{fd: fd, paths: map[int32]string{}}
	for _, d := range dirs {
		wd, err := syscall.InotifyAddWatch(fd, d, syscall.IN_OPEN|syscall.IN_ACCESS)
		if err != nil {
			t.Fatalf("inotify_add_watch(%s): %v", d, err)
		}
		w.paths[int32(wd)] = d
	}
	return w
}

// Events returns what happened since the last call, as "dir/name".
func (w *Watcher) Events(t testing.TB) []string {
	t.Helper()
	var out []string
	buf := make([]byte, 64<<10)
	for {
		n, err := syscall.Read(w.fd, buf)
		if err == syscall.EAGAIN {
			return out
		}
		if err != nil {
			t.Fatalf("reading inotify events: %v", err)
		}
		for off := 0; off+syscall.SizeofInotifyEvent <= n; {
			ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := ""
			if ev.Len > 0 {
				b := buf[off+syscall.SizeofInotifyEvent : off+syscall.SizeofInotifyEvent+int(ev.Len)]
				name = strings.TrimRight(string(b), "\x00")
			}
			out = append(out, filepath.Join(w.paths[ev.Wd], name))
			off += syscall.SizeofInotifyEvent + int(ev.Len)
		}
	}
}
