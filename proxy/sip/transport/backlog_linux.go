package transport

import "golang.org/x/sys/unix"

// queuedBytes is the length of a socket's receive queue.
func queuedBytes(fd uintptr) int {
	n, err := unix.IoctlGetInt(int(fd), unix.SIOCINQ)
	if err != nil {
		return 0
	}
	return n
}
