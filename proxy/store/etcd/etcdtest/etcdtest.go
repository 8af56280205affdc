// Package etcdtest runs a real etcd for tests, on loopback ports in a temporary directory:
// either the current etcd embedded in the test binary (go.etcd.io/etcd/server/v3/embed), or the
// etcd binary on PATH (Debian's etcd-server 3.4, what CI installs). Both can be killed and
// restarted on the same data, and Cutter puts a connection a test can cut between a client and
// either.
package etcdtest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Server is a single-member etcd on loopback.
type Server struct {
	t          testing.TB
	dir        string
	clientURL  string
	peerURL    string
	binary     string // "" for the embedded etcd
	mu         sync.Mutex
	embedded   *embed.Etcd
	cmd        *exec.Cmd
	cmdDone    chan struct{}
	logFile    string
	running    bool
	cleanupSet bool
	tls        *TLSFiles
}

// TLSFiles are the PEM files of an etcd that serves its clients over TLS and requires their
// certificates to chain to CA.
type TLSFiles struct {
	Cert, Key, CA string
}

// Endpoints are the client URLs.
func (s *Server) Endpoints() []string { return []string{s.clientURL} }

// Endpoint is the client URL.
func (s *Server) Endpoint() string { return s.clientURL }

// StartEmbedded starts the current etcd inside the test process.
func StartEmbedded(t testing.TB) *Server {
	t.Helper()
	s := newServer(t, "")
	s.Start()
	return s
}

// BinaryPath finds the etcd binary: $SIPFED_ETCD_BIN, else etcd on PATH. Without one, a test
// fails under CI (which installs Debian's etcd-server) and skips elsewhere, saying what to
// install.
func BinaryPath(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("SIPFED_ETCD_BIN"); p != "" {
		return p
	}
	p, err := exec.LookPath("etcd")
	if err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("etcd is required in CI (apt-get install etcd-server; scripts/ensure-tools.sh etcd): %v", err)
	}
	t.Skip("etcd not installed (apt-get install etcd-server, or scripts/ensure-tools.sh etcd)")
	return ""
}

// StartBinary starts the etcd binary (Debian's etcd-server in CI) as a child process.
func StartBinary(t testing.TB) *Server {
	t.Helper()
	s := newServer(t, BinaryPath(t))
	s.Start()
	return s
}

func newServer(t testing.TB, binary string) *Server {
	dir := t.TempDir()
	return &Server{t: t, dir: dir, binary: binary,
		clientURL: "http://" + freeAddr(t), peerURL: "http://" + freeAddr(t),
		logFile: filepath.Join(dir, "etcd.log")}
}

// StartEmbeddedTLS starts the current etcd inside the test process, serving clients over TLS
// with client certificates required.
func StartEmbeddedTLS(t testing.TB, files TLSFiles) *Server {
	t.Helper()
	s := newServer(t, "")
	s.tls = &files
	s.clientURL = strings.Replace(s.clientURL, "http://", "https://", 1)
	s.Start()
	return s
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Start starts etcd (again) on its directory and ports, and waits until it answers.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return
	}
	if !s.cleanupSet {
		s.cleanupSet = true
		s.t.Cleanup(s.Stop)
	}
	data := filepath.Join(s.dir, "data")
	if s.binary == "" {
		cfg := embed.NewConfig()
		cfg.Name = "default"
		cfg.Dir = data
		cu, _ := url.Parse(s.clientURL)
		pu, _ := url.Parse(s.peerURL)
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
		cfg.InitialCluster = "default=" + s.peerURL
		cfg.LogLevel = "error"
		cfg.LogOutputs = []string{s.logFile}
		if s.tls != nil {
			cfg.ClientTLSInfo = transport.TLSInfo{CertFile: s.tls.Cert, KeyFile: s.tls.Key, TrustedCAFile: s.tls.CA, ClientCertAuth: true}
		}
		e, err := embed.StartEtcd(cfg)
		if err != nil {
			s.t.Fatalf("starting embedded etcd: %v", err)
		}
		select {
		case <-e.Server.ReadyNotify():
		case <-time.After(30 * time.Second):
			e.Close()
			s.t.Fatal("embedded etcd not ready within 30 s")
		}
		s.embedded = e
	} else {
		log, err := os.OpenFile(s.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			s.t.Fatal(err)
		}
		cmd := exec.Command(s.binary,
			"--name", "default", "--data-dir", data,
			"--listen-client-urls", s.clientURL, "--advertise-client-urls", s.clientURL,
			"--listen-peer-urls", s.peerURL, "--initial-advertise-peer-urls", s.peerURL,
			"--initial-cluster", "default="+s.peerURL, "--log-level", "error")
		cmd.Stdout, cmd.Stderr = log, log
		// Its own process group: a test that dies takes no etcd with it, and Stop kills it whole.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			_ = log.Close()
			s.t.Fatalf("starting %s: %v", s.binary, err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); _ = log.Close(); close(done) }()
		s.cmd, s.cmdDone = cmd, done
		if err := waitReady(s.clientURL, done); err != nil {
			_ = cmd.Process.Kill()
			<-done
			out, _ := os.ReadFile(s.logFile)
			s.t.Fatalf("%s: %v\n%s", s.binary, err, tail(out))
		}
	}
	s.running = true
}

// Stop kills etcd (SIGKILL for the binary: nothing is flushed that was not already durable).
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		return
	}
	s.running = false
	if s.embedded != nil {
		s.embedded.Close()
		s.embedded = nil
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.cmdDone
}

// Version is etcd's server version, e.g. 3.4.23.
func (s *Server) Version(t testing.TB) string {
	t.Helper()
	cli := s.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := cli.Status(ctx, s.clientURL)
	if err != nil {
		t.Fatal(err)
	}
	return st.Version
}

// Client is a client of this etcd, closed when the test ends.
func (s *Server) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: s.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// Compact compacts etcd's history up to its current revision, and returns that revision.
func (s *Server) Compact(t testing.TB) int64 {
	t.Helper()
	cli := s.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "compact-probe")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}

func waitReady(endpoint string, exited <-chan struct{}) error {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: time.Second, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer cli.Close()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("etcd exited before it was ready")
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err = cli.Get(ctx, "ready-probe")
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("etcd not ready within 30 s: %v", err)
}

func tail(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return strings.Join(lines, "\n")
}

// Cutter is a TCP relay on loopback between clients and a server: a test points a node at it and
// cuts the node off (Cut: connections closed, new ones refused) and back (Restore), on the same
// address, as a network partition would.
type Cutter struct {
	t      testing.TB
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup

	// armed: once clients have sent this many bytes more, answers are dropped (see LoseAnswers).
	armed    atomic.Int64
	dropping atomic.Bool
}

// LoseAnswers lets requests through but, once clients have sent n more bytes (a write larger
// than the reads before it), drops every answer from the server, keeping the connections open:
// the write reaches etcd and commits, and its client never learns it. Restore or Cut ends it.
func (c *Cutter) LoseAnswers(n int64) {
	c.dropping.Store(false)
	c.armed.Store(n)
}

// NewCutter relays to target (host:port or a URL); it starts connected.
func NewCutter(t testing.TB, target string) *Cutter {
	t.Helper()
	if u, err := url.Parse(target); err == nil && u.Host != "" {
		target = u.Host
	}
	c := &Cutter{t: t, target: target, addr: freeAddr(t), conns: map[net.Conn]struct{}{}}
	c.Restore()
	t.Cleanup(func() { c.Cut(); c.wg.Wait() })
	return c
}

// Endpoint is the relay's URL.
func (c *Cutter) Endpoint() string { return "http://" + c.addr }

// Cut closes every relayed connection and refuses new ones.
func (c *Cutter) Cut() {
	c.armed.Store(0)
	c.dropping.Store(false)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ln != nil {
		_ = c.ln.Close()
		c.ln = nil
	}
	for conn := range c.conns {
		_ = conn.Close()
	}
	clear(c.conns)
}

// Restore accepts connections again on the same address.
func (c *Cutter) Restore() {
	c.t.Helper()
	c.armed.Store(0)
	c.dropping.Store(false)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ln != nil {
		return
	}
	var (
		ln  net.Listener
		err error
	)
	// The port was ours a moment ago; another listener may hold it while it lingers.
	for range 50 {
		if ln, err = net.Listen("tcp", c.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		c.t.Fatalf("cutter: %v", err)
	}
	c.ln = ln
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.DialTimeout("tcp", c.target, 2*time.Second)
			if err != nil {
				_ = in.Close()
				continue
			}
			if !c.track(in, out) {
				continue
			}
			c.wg.Add(2)
			go c.pipe(out, in, true)
			go c.pipe(in, out, false)
		}
	}()
}

func (c *Cutter) track(in, out net.Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ln == nil {
		_ = in.Close()
		_ = out.Close()
		return false
	}
	c.conns[in], c.conns[out] = struct{}{}, struct{}{}
	return true
}

// pipe copies src to dst; toServer says which way.
func (c *Cutter) pipe(dst, src net.Conn, toServer bool) {
	defer c.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if toServer {
				if left := c.armed.Load(); left > 0 && c.armed.Add(-int64(n)) <= 0 {
					c.dropping.Store(true)
				}
			} else if c.dropping.Load() {
				continue
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	_ = dst.Close()
	_ = src.Close()
	c.mu.Lock()
	delete(c.conns, dst)
	delete(c.conns, src)
	c.mu.Unlock()
}
