package layer

import "syscall"

func mkfifo(p string) error { return syscall.Mkfifo(p, 0o600) }

const syscallNonblock = syscall.O_NONBLOCK
