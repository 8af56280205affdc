package relay

import (
	"strings"
	"testing"
)

func TestParseListener(t *testing.T) {
	ok := map[string]Listener{
		"udp://127.0.0.1:5060": {Transport: "udp", Addr: "127.0.0.1:5060"},
		"TCP://[::1]:5070":     {Transport: "tcp", Addr: "[::1]:5070"},
		"tls://0.0.0.0":        {Transport: "tls", Addr: "0.0.0.0:5061"},
		"tcp://:0":             {Transport: "tcp", Addr: "0.0.0.0:0"},
	}
	for in, want := range ok {
		got, err := ParseListener(in)
		if err != nil || got != want {
			t.Errorf("ParseListener(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if got.String() != want.Transport+"://"+want.Addr {
			t.Errorf("String() = %q", got.String())
		}
	}
	for _, in := range []string{"127.0.0.1:5060", "ws://127.0.0.1:80", "udp://host.example:5060", "tcp://127.0.0.1:99999"} {
		if _, err := ParseListener(in); err == nil {
			t.Errorf("ParseListener(%q) accepted", in)
		}
	}
}

func TestParseNextHop(t *testing.T) {
	ok := map[string]NextHop{
		"sip:10.0.0.5:5060;transport=tcp":         {Host: "10.0.0.5", Port: 5060, Transport: "tcp"},
		"sip:10.0.0.5":                            {Host: "10.0.0.5", Port: 5060, Transport: "udp"},
		"sips:Pres.Example.com":                   {Host: "pres.example.com", Port: 5061, Transport: "tls"},
		"sip:[2001:db8::1]:5080;transport=TLS;lr": {Host: "2001:db8::1", Port: 5080, Transport: "tls"},
	}
	for in, want := range ok {
		got, err := ParseNextHop(in)
		if err != nil || got != want {
			t.Errorf("ParseNextHop(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	if s := (NextHop{Host: "2001:db8::1", Port: 5080, Transport: "tls"}).String(); s != "sip:[2001:db8::1]:5080;transport=tls" {
		t.Errorf("String() = %q", s)
	}
	for _, in := range []string{"10.0.0.5:5060", "sip:alice@10.0.0.5", "sip:10.0.0.5;transport=sctp", "http://x", "sip:10.0.0.5:0"} {
		if _, err := ParseNextHop(in); err == nil {
			t.Errorf("ParseNextHop(%q) accepted", in)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	cases := map[string]struct {
		cfg  Config
		want string
	}{
		"no listener":            {Config{}, "no SIP listener"},
		"external not TLS":       {Config{External: []Listener{{Transport: "tcp", Addr: "127.0.0.1:0"}}, InternalNextHop: NextHop{Host: "10.0.0.5", Port: 5060, Transport: "tcp"}}, "must be tls"},
		"TLS without material":   {Config{Internal: []Listener{{Transport: "tls", Addr: "127.0.0.1:0"}}}, "needs --tls-cert"},
		"external without a hop": {Config{External: []Listener{{Transport: "tls", Addr: "127.0.0.1:0"}}, TLS: newPKI(t).proxyMat}, "--internal-next-hop is required"},
	}
	for name, c := range cases {
		c.cfg.setDefaults()
		err := c.cfg.validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, c.want)
		}
	}
}

func TestNewNeedsSnapshotsAndDNS(t *testing.T) {
	cfg := Config{Internal: []Listener{{Transport: "udp", Addr: "127.0.0.1:0"}}}
	if _, err := New(cfg, nil, testDNS(t)); err == nil {
		t.Error("a relay without snapshots started")
	}
	if _, err := New(cfg, &holder{}, nil); err == nil {
		t.Error("a relay without a DNS resolver started: it would bypass --dns-server")
	}
}
