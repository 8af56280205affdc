package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// blackHole returns the address of a port that drops every connection attempt: a listener whose
// accept queue is full, so the kernel drops further SYNs, as a firewall that drops packets does.
func blackHole(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	// Fill the accept queue; nobody ever accepts.
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
		if err != nil {
			break
		}
		t.Cleanup(func() { _ = c.Close() })
		if i > 16 {
			t.Skip("this kernel accepts connections beyond the listen backlog: no black hole to test with")
		}
	}
	return addr
}

// Against an endpoint that never answers, a call with the defaults gives up within about 30 s,
// saying how often it tried, instead of waiting for the operating system's connect timeout.
func TestDefaultRetryGivesUpOnABlackHole(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 25 s")
	}
	t.Parallel()
	addr := blackHole(t)
	c, err := NewClient("http://"+addr, "tok")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, _, err = c.GetFederatedDomain(context.Background(), "a.com")
	took := time.Since(start)
	t.Logf("gave up after %s: %v", took.Round(100*time.Millisecond), err)
	if err == nil {
		t.Fatal("a call to a black hole succeeded")
	}
	if took > 30*time.Second || took < DefaultRetry.Timeout {
		t.Errorf("gave up after %s, want between the retry timeout (%s) and 30 s", took, DefaultRetry.Timeout)
	}
	var gu *GaveUpError
	if !errors.As(err, &gu) || gu.Attempts < 2 || !strings.Contains(err.Error(), fmt.Sprintf("gave up after %d attempts", gu.Attempts)) {
		t.Errorf("error %q does not say how often it tried", err)
	}
}
