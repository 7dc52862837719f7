//go:build unix

package regtest

import "syscall"

// processAlive reports whether pid names a live (or unreaped) process.
func processAlive(pid int) bool { return syscall.Kill(pid, 0) == nil }
