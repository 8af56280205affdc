package core

import (
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"

	"github.com/sipfed/terraform-provider-sip/proxy/sip/message"
	"github.com/sipfed/terraform-provider-sip/proxy/sip/message/messagetest"
)

// req describes a request as a test writes it; the zero values of its fields take defaults.
type req struct {
	method string
	ruri   string
	// vias are Via values, top first; each becomes its own header line.
	vias    []string
	fromTag string
	toTag   string
	callID  string
	cseq    int
	mf      string // Max-Forwards value; "-" leaves the header out
	extra   string // header lines, each ending in \n
	body    string
}

func (r req) text() string {
	method := or(r.method, "MESSAGE")
	vias := r.vias
	if vias == nil {
		vias = []string{"SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKcaller1;rport"}
	}
	var b strings.Builder
	b.WriteString(method + " " + or(r.ruri, "sip:bob@partner.example") + " SIP/2.0\n")
	for _, v := range vias {
		b.WriteString("Via: " + v + "\n")
	}
	if r.mf != "-" {
		b.WriteString("Max-Forwards: " + or(r.mf, "70") + "\n")
	}
	b.WriteString("From: <sip:alice@example.com>;tag=" + or(r.fromTag, "f1") + "\n")
	to := "To: <sip:bob@partner.example>"
	if r.toTag != "" {
		to += ";tag=" + r.toTag
	}
	b.WriteString(to + "\n")
	b.WriteString("Call-ID: " + or(r.callID, "call-1@example.com") + "\n")
	cseq := r.cseq
	if cseq == 0 {
		cseq = 1
	}
	b.WriteString("CSeq: " + strconv.Itoa(cseq) + " " + method + "\n")
	b.WriteString(r.extra)
	b.WriteString("Content-Length: " + strconv.Itoa(len(r.body)) + "\n\n" + r.body)
	return strings.ReplaceAll(b.String(), "\n", "\r\n")
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func parseReq(t testing.TB, r req) *message.Msg { return messagetest.Parse(t, r.text()) }

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
