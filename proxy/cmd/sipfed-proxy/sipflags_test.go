package main

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/sipfed/terraform-provider-sip/proxy/relay"
)

// A bad limit stops the proxy before it listens, with an error that names the flag.
func TestSIPFlagsRefuseBadLimits(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--hop-timeout", "0s"}, "--hop-timeout must be positive"},
		{[]string{"--dial-timeout", "-1s"}, "--dial-timeout must be positive"},
		{[]string{"--overload-udp-queue-delay", "0s"}, "--overload-udp-queue-delay must be positive"},
		{[]string{"--max-message-size", "100"}, "--max-message-size must be between 1024 and 1048576"},
		{[]string{"--max-in-flight", "0"}, "--max-in-flight must be positive"},
		{[]string{"--max-connections-per-address-external", "-1"}, "--max-connections-per-address-* must not be negative"},
		{[]string{"--partial-bytes-limit", "2000"}, "--partial-bytes-limit (2000) must hold at least one message"},
		{[]string{"--next-hop-connections", "-1"}, "--next-hop-connections must be between 0 (one per core) and 16, got -1"},
		{[]string{"--next-hop-connections", "17"}, "--next-hop-connections must be between 0 (one per core) and 16, got 17"},
	} {
		t.Run(strings.Join(tc.args, "="), func(t *testing.T) {
			var s sipFlags
			fs := flag.NewFlagSet("serve", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			s.register(fs)
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			err := s.apply(&relay.Config{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to say %q", err, tc.want)
			}
		})
	}
}

func TestSIPFlagsSetTheRelay(t *testing.T) {
	var s sipFlags
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	s.register(fs)
	if err := fs.Parse([]string{"--next-hop-connections", "3", "--topology-hiding=false", "--max-in-flight", "100",
		"--overload-udp-queue-delay", "40ms", "--overload-queue-delay", "80ms"}); err != nil {
		t.Fatal(err)
	}
	var c relay.Config
	if err := s.apply(&c); err != nil {
		t.Fatal(err)
	}
	if c.Limits.ConnsPerHop != 3 || !c.ShowTopology || c.MaxInFlight != 100 {
		t.Fatalf("relay config: conns per hop %d, show topology %v, max in flight %d", c.Limits.ConnsPerHop, c.ShowTopology, c.MaxInFlight)
	}
	if c.Overload.UDPQueueDelay != 40*time.Millisecond || c.Overload.QueueDelay != 80*time.Millisecond {
		t.Fatalf("overload targets: UDP %v, streams %v; want 40ms and 80ms", c.Overload.UDPQueueDelay, c.Overload.QueueDelay)
	}
}
