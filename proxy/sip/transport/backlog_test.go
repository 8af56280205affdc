package transport

import (
	"io"
	"net"
	"runtime"
	"testing"
	"time"
)

// tcpPair is a connected loopback TCP pair.
func tcpPair(t *testing.T) (client, server net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

// Bytes that sat in the socket's queue report at least the time they sat there, once read;
// a stream with nothing queued reports none.
func TestBacklogWaited(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the queue length (FIONREAD) is read on Linux only")
	}
	client, server := tcpPair(t)
	var b backlog
	nc := b.watch(server)
	if b.raw == nil {
		t.Fatal("no raw connection to poll")
	}

	// Nothing queued: one message read, nothing left behind it.
	if _, err := client.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	if _, err := io.ReadFull(nc, buf[:5]); err != nil {
		t.Fatal(err)
	}
	if w := b.waited(time.Now()); w != 0 {
		t.Fatalf("waited %v with nothing queued", w)
	}

	// 256 KiB queued; the reader takes 4 KiB, polls (a mark is set at the queue's end), and
	// comes back later: what it reads from below the mark waited since the poll.
	const queued = 256 << 10
	go func() { _, _ = client.Write(make([]byte, queued)) }()
	deadline := time.Now().Add(5 * time.Second)
	for queuedBytesOf(t, &b) < 64<<10 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if _, err := io.ReadFull(nc, buf); err != nil {
		t.Fatal(err)
	}
	polled := time.Now()
	b.poll = time.Time{} // poll now, whenever the last one was
	if w := b.waited(polled); w != 0 {
		t.Fatalf("waited %v before any mark", w)
	}
	if b.n != 1 {
		t.Fatalf("%d marks after a poll of a non-empty queue, want 1", b.n)
	}
	const pause = 30 * time.Millisecond
	time.Sleep(pause)
	if _, err := io.ReadFull(nc, buf); err != nil {
		t.Fatal(err)
	}
	if w := b.waited(time.Now()); w < pause {
		t.Fatalf("bytes queued for %v reported a wait of %v", pause, w)
	}
	// Read past the mark: the byte below it waited since the poll too, and the mark is gone.
	rest := b.marks[b.head].end - b.read
	if _, err := io.CopyN(io.Discard, nc, rest); err != nil {
		t.Fatal(err)
	}
	if w := b.waited(time.Now()); w < pause {
		t.Fatalf("reading past the mark reported a wait of %v, want at least %v", w, pause)
	}

	// Drained: once a poll finds the queue empty, reads report no wait.
	left := int64(queued+5) - b.read
	if _, err := io.CopyN(io.Discard, nc, left); err != nil {
		t.Fatal(err)
	}
	b.n, b.poll = 0, time.Time{}
	b.waited(time.Now())
	if _, err := client.Write([]byte("again")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(nc, buf[:5]); err != nil {
		t.Fatal(err)
	}
	if w := b.waited(time.Now()); w != 0 {
		t.Fatalf("waited %v with the queue drained", w)
	}
}

func queuedBytesOf(t *testing.T, b *backlog) int {
	b.queue = 0
	if err := b.raw.Control(b.ask); err != nil {
		t.Fatal(err)
	}
	return b.queue
}

// A queue that polls keep finding non-empty stands since the first of them, however small it
// is; one poll that finds it empty ends that.
func TestBacklogStanding(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the queue length (FIONREAD) is read on Linux only")
	}
	client, server := tcpPair(t)
	var b backlog
	nc := b.watch(server)
	buf := make([]byte, 4096)
	if _, err := client.Write(make([]byte, 3*len(buf))); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for queuedBytesOf(t, &b) < 3*len(buf) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	read := func() {
		t.Helper()
		if _, err := io.ReadFull(nc, buf); err != nil {
			t.Fatal(err)
		}
	}
	read()
	first := time.Now()
	b.poll = time.Time{}
	b.waited(first)
	if s := b.standing(first); s != 0 {
		t.Fatalf("standing %v at the first poll that found a queue", s)
	}
	read()
	later := first.Add(300 * time.Millisecond)
	b.poll = time.Time{}
	b.waited(later)
	if s := b.standing(later); s != 300*time.Millisecond {
		t.Fatalf("standing %v after two polls 300ms apart found a queue, want 300ms", s)
	}
	read()
	b.poll, b.n = time.Time{}, 0
	b.waited(later.Add(time.Millisecond))
	if s := b.standing(later.Add(time.Second)); s != 0 {
		t.Fatalf("standing %v after a poll found the queue empty", s)
	}
}
