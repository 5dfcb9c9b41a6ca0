//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

// Package filelock takes exclusive advisory locks on files, so that two
// processes over one data directory do not share what must be one
// process's own (a node identity, a tenant-log spool).
package filelock

import (
	"errors"
	"os"
	"syscall"
)

// Lock takes an exclusive advisory lock on f without waiting; false
// when another process holds it. The lock ends when f is closed or the
// process ends, however it ends.
func Lock(f *os.File) (bool, error) {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}
