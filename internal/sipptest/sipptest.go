// Package sipptest runs sipp (Debian package sip-tester) in tests: the SIP peer nobody here
// wrote.
package sipptest

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// Binary finds sipp. Under CI a missing sipp fails the test; elsewhere the test skips.
func Binary(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("sipp")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("sipp is missing (Debian package sip-tester); make test installs it")
		}
		t.Skip("sipp is missing (Debian package sip-tester)")
	}
	return bin
}

// FreePort finds a port free on ip for both UDP and TCP: sipp wants a number, not port 0.
func FreePort(t testing.TB, ip string) int {
	t.Helper()
	for range 20 {
		ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, strconv.Itoa(port)))
		ln.Close()
		if err == nil {
			pc.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// Process is one sipp run.
type Process struct {
	Name string
	dir  string
	cmd  *exec.Cmd
	out  bytes.Buffer
	done chan struct{}
	err  error // Wait's, once done is closed
}

// Start runs bin with the scenario file sf in dir, its messages and errors logged there under
// name. sipp stops itself after 20 s (an error: -timeout_error) and is killed after 30 s or
// when the test ends.
func Start(t testing.TB, bin, dir, name, sf string, args ...string) *Process {
	t.Helper()
	p := &Process{Name: name, dir: dir, done: make(chan struct{})}
	all := append([]string{"-sf", sf, "-nostdin", "-timeout", "20s", "-timeout_error", "-trace_msg",
		"-message_file", p.file("messages"), "-trace_err", "-error_file", p.file("errors")}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	p.cmd = exec.CommandContext(ctx, bin, all...)
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.out
	if err := p.cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start sipp %s: %v", name, err)
	}
	go func() { p.err = p.cmd.Wait(); cancel(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done // killed: its exit status says nothing
		}
	})
	return p
}

func (p *Process) file(kind string) string { return filepath.Join(p.dir, p.Name+"_"+kind+".log") }

// Done is closed when sipp has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// ExitCode, once Done, is sipp's exit code: 0 when every call succeeded, -1 when it did not
// exit by itself (killed, or never run).
func (p *Process) ExitCode() int {
	<-p.done
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return 0
	case errors.As(p.err, &ee) && ee.ExitCode() >= 0:
		return ee.ExitCode()
	default:
		return -1
	}
}

// Wait returns sipp's exit code (see ExitCode); the test fails when sipp does not finish within
// d.
func (p *Process) Wait(t testing.TB, within time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(within):
		t.Fatalf("sipp %s did not finish within %v:\n%s", p.Name, within, p.Output())
	}
	return p.ExitCode()
}

// Messages is sipp's trace of the messages it sent and received.
func (p *Process) Messages() string { return p.read("messages") }

// Errors is sipp's error log.
func (p *Process) Errors() string { return p.read("errors") }

// Output is what sipp wrote to stdout and stderr; read it once sipp is done.
func (p *Process) Output() string { return p.out.String() }

func (p *Process) read(kind string) string {
	b, _ := os.ReadFile(p.file(kind))
	return string(b)
}
