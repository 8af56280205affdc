package relay

import (
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

// TestUDPMemoryPerTransaction measures the heap each completed UDP transaction keeps: RFC 3261
// keeps a non-INVITE server transaction 32 s to absorb retransmissions, so at 14,000 MESSAGE/s
// about 450,000 of them are alive at once.
func TestUDPMemoryPerTransaction(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("sends 20,000 requests over UDP: too many for -short or the race detector's pace")
	}
	edge := rawUAS(t)
	h := &holder{}
	h.p.Store(fed{
		domains: []api.FederatedDomain{{Domain: partnerDomain}},
		routes:  []api.StaticRoute{route(partnerDomain, edge, api.ProtocolUDP, 1)},
	}.snapshot())
	r := startRelay(t, Config{Internal: []Listener{{Transport: "udp", Addr: "127.0.0.1:0"}}}, h)
	dst, _ := net.ResolveUDPAddr("udp", listenerAddr(r.InternalAddrs(), "udp"))
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	const n = 20000
	got := make(chan int)
	go func() {
		buf := make([]byte, 4096)
		ok := 0
		_ = pc.SetReadDeadline(time.Now().Add(20 * time.Second))
		for ok < n {
			m, _, err := pc.ReadFrom(buf)
			if err != nil {
				break
			}
			if m >= 12 && string(buf[:12]) == "SIP/2.0 200 " {
				ok++
			}
		}
		got <- ok
	}()
	before := heap()
	for i := 0; i < n; i++ {
		msg := "MESSAGE sip:bob@" + partnerDomain + " SIP/2.0\r\n" +
			"Via: SIP/2.0/UDP " + pc.LocalAddr().String() + ";branch=z9hG4bK-mem-" + strconv.Itoa(i) + "\r\n" +
			"From: <sip:alice@example.com>;tag=" + strconv.Itoa(i) + "\r\n" +
			"To: <sip:bob@" + partnerDomain + ">\r\n" +
			"Call-ID: mem-" + strconv.Itoa(i) + "@127.0.0.1\r\n" +
			"CSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
		if _, err := pc.WriteTo([]byte(msg), dst); err != nil {
			t.Fatal(err)
		}
		if i%50 == 49 {
			time.Sleep(5 * time.Millisecond) // stay under the socket buffers
		}
	}
	ok := <-got
	after := heap()
	if f := os.Getenv("SIPFED_HEAPPROFILE"); f != "" {
		if w, err := os.Create(f); err == nil {
			_ = pprof.WriteHeapProfile(w)
			w.Close()
		}
	}
	chunks := r.retrans.chunkBytes()
	per := float64(int(after-before)+chunks) / float64(ok)
	t.Logf("%d of %d answered 200; live heap grew %d KiB, cache chunks hold %d KiB: %.0f bytes per live transaction",
		ok, n, (after-before)/1024, chunks/1024, per)
	if ok < n*99/100 {
		t.Fatalf("only %d of %d answered", ok, n)
	}
	if held := r.retrans.len(); held < ok {
		t.Errorf("%d responses held for retransmissions, want %d", held, ok)
	}
	if per > 1024 {
		t.Errorf("%.0f bytes per live UDP transaction; the budget is 1 KiB", per)
	}
}

// rawUAS answers every request on a UDP socket with 200, statelessly and keeping nothing, so
// that only the relay's memory shows in the heap.
func rawUAS(t testing.TB) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 8192)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var res strings.Builder
			res.WriteString("SIP/2.0 200 OK\r\n")
			for _, line := range strings.Split(string(buf[:n]), "\r\n") {
				name, _, _ := strings.Cut(line, ":")
				switch strings.ToLower(name) {
				case "via", "from", "call-id", "cseq", "record-route":
					res.WriteString(line + "\r\n")
				case "to":
					res.WriteString(line + ";tag=raw\r\n")
				}
			}
			res.WriteString("Content-Length: 0\r\n\r\n")
			_, _ = pc.WriteTo([]byte(res.String()), from)
		}
	}()
	return pc.LocalAddr().String()
}

func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
