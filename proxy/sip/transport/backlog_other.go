//go:build !linux

package transport

// queuedBytes is unknown here: streams carry no backlog estimate.
func queuedBytes(uintptr) int { return 0 }
