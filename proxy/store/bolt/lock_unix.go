//go:build unix

package bolt

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// lockShared takes a shared lock on f, as bbolt does for a read-only open, so that a check never
// reads a file a running proxy is writing: a proxy holds an exclusive lock. It waits up to wait
// for a proxy that is still stopping.
func lockShared(f *os.File, wait time.Duration) (unlock func(), err error) {
	return lock(f, syscall.LOCK_SH, wait)
}

// lockExclusive takes an exclusive lock on f, as a proxy does: nothing else opens the store
// while it is held.
func lockExclusive(f *os.File, wait time.Duration) (unlock func(), err error) {
	return lock(f, syscall.LOCK_EX, wait)
}

func lock(f *os.File, how int, wait time.Duration) (func(), error) {
	deadline := time.Now().Add(wait)
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN) }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, err
		}
		if time.Now().After(deadline) {
			return nil, ErrLocked
		}
		time.Sleep(50 * time.Millisecond)
	}
}
