//go:build !linux

package transport

import (
	"syscall"
	"time"
)

const oobSize = 0

func enableTimestamps(syscall.RawConn) bool { return false }

func rxTimestamp([]byte) (time.Time, bool) { return time.Time{}, false }

func enableDropCount(syscall.RawConn) bool { return false }

func rxDrops([]byte) (uint32, bool) { return 0, false }
