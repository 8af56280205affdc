//go:build !unix

package bolt

import (
	"os"
	"time"
)

// Without flock, bbolt's own lock at open is the only guard against a second process.
func lockShared(*os.File, time.Duration) (func(), error)    { return func() {}, nil }
func lockExclusive(*os.File, time.Duration) (func(), error) { return func() {}, nil }
