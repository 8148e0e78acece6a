package persist

import "syscall"

// mountSmallFS mounts a 2 MiB tmpfs on dir (needs root or CAP_SYS_ADMIN).
func mountSmallFS(dir string) error {
	return syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=2m")
}

func unmountSmallFS(dir string) error { return syscall.Unmount(dir, 0) }
