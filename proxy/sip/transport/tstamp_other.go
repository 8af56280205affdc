//go:build !linux

package transport

import (
	"net"
	"time"
)

const oobSize = 0

func enableTimestamps(*net.UDPConn) bool { return false }

func rxTimestamp([]byte) (time.Time, bool) { return time.Time{}, false }

func enableDropCount(*net.UDPConn) bool { return false }

func rxDrops([]byte) (uint32, bool) { return 0, false }
