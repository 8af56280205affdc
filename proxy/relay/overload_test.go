package relay

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

func TestOverloadHysteresis(t *testing.T) {
	var changes []bool
	o := newOverload(50*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)), func(on bool) { changes = append(changes, on) })
	for _, d := range []time.Duration{time.Millisecond, 60 * time.Millisecond, 30 * time.Millisecond, 20 * time.Millisecond, 5 * time.Millisecond, 40 * time.Millisecond} {
		o.observe(d)
	}
	if len(changes) != 2 || !changes[0] || changes[1] || o.shedding() {
		t.Fatalf("changes %v, shedding %v; want on at 60 ms, off at 5 ms", changes, o.shedding())
	}
}

func TestOverloadedProxyAnswers503(t *testing.T) {
	w := newWorld(t) // its probe is off (see startRelay): the test drives the detector
	w.relay.overload.setThreshold(50 * time.Millisecond)
	w.relay.overload.observe(time.Second)
	res := newUAC(t, nil).mustDo(t, w.outbound(t, "tcp"), 503)
	if res.GetHeader("Retry-After") == nil {
		t.Error("503 without Retry-After")
	}
	if w.edge.count() != 0 {
		t.Fatal("a request was forwarded while shedding")
	}
	// In-dialog requests still go through: they finish what was accepted.
	bye := w.outbound(t, "tcp")
	bye.Method = sip.BYE
	bye.AppendHeader(&sip.CSeqHeader{SeqNo: 2, MethodName: sip.BYE})
	bye.To().Params.Add("tag", "x")
	bye.Recipient.Host = "127.0.0.1"
	bye.Recipient.Port = portNum(w.edge.addr)
	bye.Recipient.UriParams = sip.HeaderParams{{K: "transport", V: "tls"}}
	newUAC(t, nil).mustDo(t, bye, 200)
	w.relay.overload.observe(0)
	newUAC(t, nil).mustDo(t, w.outbound(t, "tcp"), 200)
}
