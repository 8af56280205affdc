package relay

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/api"
)

// sippBinary finds sipp (Debian package sip-tester). CI must have it; elsewhere the test skips.
func sippBinary(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("sipp")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("sipp is required in CI (apt-get install sip-tester): %v", err)
		}
		t.Skip("sipp not installed (apt-get install sip-tester)")
	}
	return p
}

// freePort finds a port free on 127.0.0.1 for both UDP and TCP. sipp wants a number.
func freePort(t *testing.T) int {
	t.Helper()
	for i := 0; i < 20; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
		ln.Close()
		if err == nil {
			pc.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

type sipp struct {
	name string
	cmd  *exec.Cmd
	out  bytes.Buffer
	done chan struct{}
	err  error  // Wait's, once done is closed
	log  string // its -message_file
}

// startSipp runs sipp with a scenario of testdata/sipp, in dir, for at most a bounded time.
func startSipp(t *testing.T, bin, dir, name, scenario string, args ...string) *sipp {
	t.Helper()
	sf, err := filepath.Abs(filepath.Join("testdata", "sipp", scenario))
	if err != nil {
		t.Fatal(err)
	}
	s := &sipp{name: name, done: make(chan struct{}), log: filepath.Join(dir, name+"_messages.log")}
	all := append([]string{"-sf", sf, "-nostdin", "-timeout", "20s", "-trace_msg", "-message_file", s.log,
		"-trace_err", "-error_file", filepath.Join(dir, name+"_errors.log")}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	s.cmd = exec.CommandContext(ctx, bin, all...)
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.out
	if err := s.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start sipp %s: %v", name, err)
	}
	go func() { s.err = s.cmd.Wait(); cancel(); close(s.done) }()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			_ = s.cmd.Process.Kill()
			<-s.done // killed: its exit status says nothing
		}
	})
	return s
}

// wait returns sipp's exit code: 0 when every call succeeded.
func (s *sipp) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-s.done:
		err := s.err
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatalf("sipp %s: %v", s.name, err)
		}
		return 0
	case <-time.After(within):
		t.Fatalf("sipp %s did not finish within %v:\n%s", s.name, within, s.out.String())
		return -1
	}
}

func (s *sipp) messages() string {
	b, _ := os.ReadFile(s.log)
	return string(b)
}

// TestSippMessageThroughProxy: a sipp UAC sends a MESSAGE to the internal listener; two sipp UASs
// stand in for a partner's edges, and the static route names one of them.
func TestSippMessageThroughProxy(t *testing.T) {
	bin := sippBinary(t)
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			dir := t.TempDir()
			mode := map[string]string{"udp": "u1", "tcp": "t1"}[transport]
			portA, portB := freePort(t), freePort(t)
			edgeA := startSipp(t, bin, dir, "edgeA", "uas_message.xml", "-t", mode, "-i", "127.0.0.1", "-p", strconv.Itoa(portA), "-m", "1")
			edgeB := startSipp(t, bin, dir, "edgeB", "uas_message.xml", "-t", mode, "-i", "127.0.0.1", "-p", strconv.Itoa(portB), "-m", "1")

			h := &holder{}
			h.p.Store(fed{
				domains: []api.FederatedDomain{{Domain: partnerDomain}},
				routes:  []api.StaticRoute{route(partnerDomain, "127.0.0.1:"+strconv.Itoa(portA), transport, 1)},
			}.snapshot())
			r := startRelay(t, Config{Internal: []Listener{{Transport: transport, Addr: "127.0.0.1:0"}}}, h)
			proxy := listenerAddr(r.InternalAddrs(), transport)
			time.Sleep(200 * time.Millisecond) // let the UASs bind

			uacPort := freePort(t)
			uac := startSipp(t, bin, dir, "uac", "uac_message.xml", "-t", mode, "-i", "127.0.0.1", "-p", strconv.Itoa(uacPort),
				"-m", "1", "-s", "bob", "-key", "domain", partnerDomain, proxy)
			if code := uac.wait(t, 25*time.Second); code != 0 {
				t.Fatalf("sipp UAC exited %d (want 0: a 200 came back):\n%s\n%s", code, uac.out.String(), uac.messages())
			}
			if code := edgeA.wait(t, 10*time.Second); code != 0 {
				t.Fatalf("edge A exited %d:\n%s", code, edgeA.messages())
			}
			msgs := edgeA.messages()
			for _, want := range []string{"MESSAGE sip:bob@partner.example SIP/2.0", "Record-Route: <sip:" + routingFQDN, "Max-Forwards: 69"} {
				if !strings.Contains(msgs, want) {
					t.Errorf("edge A did not see %q:\n%s", want, msgs)
				}
			}
			if strings.Contains(edgeB.messages(), "MESSAGE sip:") {
				t.Errorf("edge B got the MESSAGE routed to edge A:\n%s", edgeB.messages())
			}
		})
	}
}
