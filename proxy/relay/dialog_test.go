package relay

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// asIs sends a request exactly as built: no header is added or changed.
func asIs(*sipgo.Client, *sip.Request) error { return nil }

// inDialog builds the next request of a dialog from the UAC's side (RFC 3261 12.2.1.1): the
// remote target from the 2xx's Contact, the route set from its Record-Route, reversed.
func inDialog(method sip.RequestMethod, inv *sip.Request, ok *sip.Response, cseq uint32) *sip.Request {
	target := ok.Contact().Address
	req := sip.NewRequest(method, target)
	rrs := ok.GetHeaders("Record-Route")
	slices.Reverse(rrs)
	for _, h := range rrs {
		req.AppendHeader(&sip.RouteHeader{Address: h.(*sip.RecordRouteHeader).Address})
	}
	req.AppendHeader(inv.From())
	req.AppendHeader(ok.To())
	req.AppendHeader(inv.CallID())
	req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: method})
	mf := sip.MaxForwardsHeader(70)
	req.AppendHeader(&mf)
	// The first Route is the proxy's internal entry: send there.
	first := req.Route().Address
	req.SetDestination(first.HostPort())
	req.SetTransport(strings.ToUpper(first.UriParams.GetOr("transport", "udp")))
	req.SetBody(nil)
	return req
}

func TestInviteDialogAckBye(t *testing.T) {
	w := newWorld(t)
	w.edge.onInvite = func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 180, "Ringing", nil))
		// sipgo handles each message on a goroutine of its own, so a 200 right behind the
		// 180 may overtake it; a provisional response may be lost anyway.
		time.Sleep(50 * time.Millisecond)
		ok := sip.NewResponseFromRequest(req, 200, "OK", nil)
		ok.AppendHeader(w.edge.contact())
		_ = tx.Respond(ok)
	}
	c := newUAC(t, nil)
	inv := request(sip.INVITE, "alice@"+localDomain, "bob@"+partnerDomain, "TCP", w.internalAddr("tcp"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tx, err := c.client.TransactionRequest(ctx, inv)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Terminate()
	var codes []int
	var ok *sip.Response
	for ok == nil {
		select {
		case res := <-tx.Responses():
			codes = append(codes, res.StatusCode)
			if res.StatusCode >= 200 {
				ok = res
			}
		case <-tx.Done():
			t.Fatalf("INVITE failed: %v (got %v)", tx.Err(), codes)
		}
	}
	if ok.StatusCode != 200 || !slices.Contains(codes, 180) {
		t.Fatalf("responses %v; want 180 then 200", codes)
	}
	if n := len(ok.GetHeaders("Record-Route")); n != 2 {
		t.Fatalf("2xx carries %d Record-Route entries, want 2", n)
	}
	w.edge.wait(t) // the INVITE

	ack := inDialog(sip.ACK, inv, ok, inv.CSeq().SeqNo)
	if err := c.client.WriteRequest(ack); err != nil {
		t.Fatal(err)
	}
	got := w.edge.wait(t)
	if got.Method != sip.ACK || got.Recipient.Host != "127.0.0.1" {
		t.Fatalf("edge got %s, want the ACK at its contact", got.StartLine())
	}
	if got.Route() != nil {
		t.Errorf("ACK still carries Route %v: the proxy must pop its own entries", got.Route())
	}

	bye := inDialog(sip.BYE, inv, ok, inv.CSeq().SeqNo+1)
	c.mustDo(t, bye, 200)
	got = w.edge.wait(t)
	if got.Method != sip.BYE || got.Route() != nil {
		t.Fatalf("edge got %s with Route %v", got.StartLine(), got.Route())
	}
}

func TestCancelReachesTheBranch(t *testing.T) {
	w := newWorld(t)
	cancelled := make(chan struct{})
	w.edge.onInvite = func(req *sip.Request, tx sip.ServerTransaction) {
		tx.OnCancel(func(*sip.Request) { close(cancelled) })
		_ = tx.Respond(sip.NewResponseFromRequest(req, 180, "Ringing", nil))
		select {
		case <-tx.Done():
		case <-time.After(5 * time.Second):
		}
	}
	c := newUAC(t, nil)
	inv := request(sip.INVITE, "alice@"+localDomain, "bob@"+partnerDomain, "TCP", w.internalAddr("tcp"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tx, err := c.client.TransactionRequest(ctx, inv)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Terminate()
	for res := range tx.Responses() {
		if res.StatusCode == 100 {
			continue // the proxy's own 100 Trying (RFC 3261 16.2)
		}
		if res.StatusCode != 180 {
			t.Fatalf("got %d before cancelling, want 180", res.StatusCode)
		}
		break
	}

	cr := sip.NewRequest(sip.CANCEL, inv.Recipient)
	cr.AppendHeader(inv.Via().Clone())
	cr.AppendHeader(inv.From())
	cr.AppendHeader(inv.To())
	cr.AppendHeader(inv.CallID())
	cr.AppendHeader(&sip.CSeqHeader{SeqNo: inv.CSeq().SeqNo, MethodName: sip.CANCEL})
	mf := sip.MaxForwardsHeader(70)
	cr.AppendHeader(&mf)
	cr.SetBody(nil)
	cr.SetTransport("TCP")
	cr.SetDestination(inv.Destination())
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	res, err := c.client.Do(ctx2, cr, asIs)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("CANCEL: %v, %v", res, err)
	}
	final := time.After(5 * time.Second)
wait:
	for {
		select {
		case res := <-tx.Responses():
			if res.StatusCode < 200 {
				continue // sipgo may hand provisional responses over out of order
			}
			if res.StatusCode != 487 {
				t.Fatalf("INVITE ended with %d, want 487", res.StatusCode)
			}
			break wait
		case <-final:
			t.Fatal("no final response to the cancelled INVITE")
		}
	}
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Fatal("the partner's branch was not cancelled")
	}
}

func TestSubscribeThenNotifyFromPartner(t *testing.T) {
	w := newWorld(t)
	c := newUAC(t, nil)
	sub := request(sip.SUBSCRIBE, "alice@"+localDomain, "bob@"+partnerDomain, "TCP", w.internalAddr("tcp"))
	sub.AppendHeader(sip.NewHeader("Event", "presence"))
	sub.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "alice", Host: "10.1.1.1", Port: 5060}})
	ok := c.mustDo(t, sub, 200)
	w.edge.wait(t)
	rrs := ok.GetHeaders("Record-Route")
	if len(rrs) != 2 {
		t.Fatalf("SUBSCRIBE 2xx has Record-Route %v", rrs)
	}

	// The partner's NOTIFY follows its route set (the Record-Route in order) to our external
	// listener, and goes to the internal next hop.
	notify := sip.NewRequest(sip.NOTIFY, sip.Uri{Scheme: "sip", User: "alice", Host: "10.1.1.1", Port: 5060})
	for _, h := range rrs {
		notify.AppendHeader(&sip.RouteHeader{Address: h.(*sip.RecordRouteHeader).Address})
	}
	from := ok.To()
	notify.AppendHeader(&sip.FromHeader{Address: from.Address, Params: from.Params})
	to := sub.From()
	notify.AppendHeader(&sip.ToHeader{Address: to.Address, Params: to.Params})
	notify.AppendHeader(sub.CallID())
	notify.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.NOTIFY})
	notify.AppendHeader(sip.NewHeader("Event", "presence"))
	notify.AppendHeader(sip.NewHeader("Subscription-State", "active"))
	notify.SetTransport("TLS")
	notify.SetDestination(w.externalAddr())
	w.partnerUAC(t).mustDo(t, notify, 200)
	got := w.inner.wait(t)
	if got.Method != sip.NOTIFY || got.Recipient.Host != "10.1.1.1" {
		t.Fatalf("internal next hop got %s", got.StartLine())
	}
	if got.Route() != nil {
		t.Errorf("NOTIFY still carries our Route %v", got.Route())
	}
}
