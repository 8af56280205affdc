package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/testpki"
	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

// sipConn is a SIP client on one TLS connection: it sends a MESSAGE and reads the response.
type sipConn struct {
	conn *tls.Conn
	r    *bufio.Reader
	n    int
}

func dialSIP(t *testing.T, addr string, roots *x509.CertPool) *sipConn {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "imp1.example.com"})
	if err != nil {
		t.Fatalf("TLS handshake with the proxy: %v", err)
	}
	return &sipConn{conn: c, r: bufio.NewReader(c)}
}

// message sends a MESSAGE to a domain that is not federated and returns the status of the answer
// (403): the proxy answers on the connection the request came on.
func (s *sipConn) message() (int, error) {
	s.n++
	local := s.conn.LocalAddr().String()
	req := fmt.Sprintf("MESSAGE sip:bob@stranger.com SIP/2.0\r\n"+
		"Via: SIP/2.0/TLS %s;branch=z9hG4bK-reload-%d-%d;rport\r\n"+
		"Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a%d\r\nTo: <sip:bob@stranger.com>\r\n"+
		"Call-ID: reload-%d-%d@test\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n", local, time.Now().UnixNano(), s.n, s.n, time.Now().UnixNano(), s.n)
	_ = s.conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(s.conn, req); err != nil {
		return 0, err
	}
	status, length := 0, 0
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			return 0, err
		}
		line = strings.TrimRight(line, "\r\n")
		if status == 0 {
			f := strings.Fields(line)
			if len(f) < 2 || f[0] != "SIP/2.0" {
				return 0, fmt.Errorf("not a status line: %q", line)
			}
			status, _ = strconv.Atoi(f[1])
			continue
		}
		if line == "" {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok && (strings.EqualFold(k, "Content-Length") || k == "l") {
			length, _ = strconv.Atoi(strings.TrimSpace(v))
		}
	}
	_, err := io.CopyN(io.Discard, s.r, int64(length))
	return status, err
}

func writePKI(t *testing.T, dir string, leaf *testpki.Leaf, cas ...*testpki.CA) {
	t.Helper()
	var bundle []byte
	for _, ca := range cas {
		bundle = append(bundle, ca.CertPEM...)
	}
	// Rename into place, as certbot and cert-manager do: a reload never reads half a file.
	for name, data := range map[string][]byte{"proxy.crt": leaf.CertPEM, "proxy.key": leaf.KeyPEM, "ca.crt": bundle} {
		tmp := filepath.Join(dir, name+".tmp")
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

func (p *proxyProcess) waitLog(t *testing.T, substr string, count int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Count(p.stderr.String(), substr) >= count {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no log line %q (%d) within 10s:\n%s", substr, count, p.stderr)
}

func (p *proxyProcess) status(t *testing.T, path, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, p.endpoint+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (p *proxyProcess) metric(t *testing.T, name string) string {
	t.Helper()
	resp, err := http.Get(p.endpoint + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	t.Fatalf("%s not in /metrics", name)
	return ""
}

func (p *proxyProcess) hup(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}

// Issue 12: certificates and tokens were read once; SIGHUP killed the proxy. The operator
// rotates the certificate (a new CA too) and a token, then sends SIGHUP to the running proxy
// while SIP flows over TLS: the open connection keeps working, the next handshake gets the new
// certificate, the old token is refused and the new one accepted, the expiry metric moves. A
// broken certificate after that is refused and the one in use stays.
func TestSIGHUPRotatesCertificateAndTokensUnderTraffic(t *testing.T) {
	dir := t.TempDir()
	oldCA, newCA := testpki.MustCA("old CA"), testpki.MustCA("new CA")
	leafOpts := testpki.LeafOptions{CN: "imp1.example.com", DNS: []string{"imp1.example.com"}}
	oldLeaf := oldCA.MustIssue(leafOpts)
	writePKI(t, dir, oldLeaf, oldCA)
	tokenFile := writeTokenFile(t, dir)
	sipAddr := freePort(t)
	p := startProxy(t, "--data-dir", t.TempDir(), "--admin-token-file", tokenFile, "--dns-server", startDNS(t, nil),
		"--sip-internal", "tls://"+sipAddr, "--tls-cert", filepath.Join(dir, "proxy.crt"),
		"--tls-key", filepath.Join(dir, "proxy.key"), "--tls-ca", filepath.Join(dir, "ca.crt"))
	if got := p.metric(t, telemetry.MetricTLSCertificateExpiry); got != strconv.FormatInt(oldLeaf.Cert.NotAfter.Unix(), 10) &&
		got != fmt.Sprintf("%g", float64(oldLeaf.Cert.NotAfter.Unix())) {
		t.Fatalf("certificate expiry metric %s, want %d", got, oldLeaf.Cert.NotAfter.Unix())
	}

	both := x509.NewCertPool()
	both.AddCert(oldCA.Cert)
	both.AddCert(newCA.Cert)
	open := dialSIP(t, sipAddr, both)
	defer open.conn.Close()
	if !open.conn.ConnectionState().PeerCertificates[0].Equal(oldLeaf.Cert) {
		t.Fatal("the proxy does not serve its certificate")
	}
	// Traffic on the open connection all along: every MESSAGE gets its answer.
	var (
		sent, answered atomic.Int64
		failure        atomic.Value
		stop           = make(chan struct{})
		wg             sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			sent.Add(1)
			code, err := open.message()
			if err != nil || code != 403 {
				failure.Store(fmt.Sprintf("MESSAGE %d on the open connection: %d %v", sent.Load(), code, err))
				return
			}
			answered.Add(1)
			time.Sleep(5 * time.Millisecond)
		}
	}()
	time.Sleep(200 * time.Millisecond)

	newLeaf := newCA.MustIssue(leafOpts)
	writePKI(t, dir, newLeaf, oldCA, newCA)
	if err := os.WriteFile(tokenFile, []byte("rotated:"+testToken+"-new\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := answered.Load()
	p.hup(t)
	p.waitLog(t, "TLS certificate, key and CA bundle reloaded", 1)
	p.waitLog(t, "admin tokens reloaded", 1)

	fresh := dialSIP(t, sipAddr, both)
	if !fresh.conn.ConnectionState().PeerCertificates[0].Equal(newLeaf.Cert) {
		t.Fatal("a handshake after SIGHUP did not get the new certificate")
	}
	if code, err := fresh.message(); err != nil || code != 403 {
		t.Fatalf("MESSAGE on a new connection: %d %v", code, err)
	}
	fresh.conn.Close()
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if f := failure.Load(); f != nil {
		t.Fatal(f)
	}
	if answered.Load() <= before {
		t.Fatalf("the open connection carried nothing after the reload (%d answered before, %d in all)", before, answered.Load())
	}
	t.Logf("%d MESSAGEs answered on the connection opened before the rotation, %d of them after", answered.Load(), answered.Load()-before)

	if code := p.status(t, "/v1/federated-domains", testToken); code != http.StatusUnauthorized {
		t.Fatalf("the removed token after SIGHUP: %d, want 401", code)
	}
	if code := p.status(t, "/v1/federated-domains", testToken+"-new"); code != http.StatusOK {
		t.Fatalf("the new token after SIGHUP: %d, want 200", code)
	}
	if got := p.metric(t, telemetry.MetricTLSCertificateExpiry); got != fmt.Sprintf("%g", float64(newLeaf.Cert.NotAfter.Unix())) &&
		got != strconv.FormatInt(newLeaf.Cert.NotAfter.Unix(), 10) {
		t.Fatalf("certificate expiry metric after the reload %s, want %d", got, newLeaf.Cert.NotAfter.Unix())
	}

	// A broken certificate and a token file without tokens: both refused, both kept.
	if err := os.WriteFile(filepath.Join(dir, "proxy.crt"), []byte("-----BEGIN CERTIFICATE-----\nbroken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tokenFile, []byte("# emptied by mistake\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.hup(t)
	p.waitLog(t, "TLS reload failed; the certificate in use stays", 1)
	p.waitLog(t, "admin token reload failed; the tokens in use stay", 1)
	again := dialSIP(t, sipAddr, both)
	defer again.conn.Close()
	if !again.conn.ConnectionState().PeerCertificates[0].Equal(newLeaf.Cert) {
		t.Fatal("after a failed reload, a handshake did not get the certificate in use")
	}
	if code, err := again.message(); err != nil || code != 403 {
		t.Fatalf("MESSAGE after a failed reload: %d %v", code, err)
	}
	if code := p.status(t, "/v1/federated-domains", testToken+"-new"); code != http.StatusOK {
		t.Fatalf("the token in use after a failed reload: %d, want 200", code)
	}
	if got := p.metric(t, telemetry.MetricTLSReloads+`{result="error"}`); got != "1" {
		t.Fatalf("failed TLS reloads counted %s, want 1", got)
	}
	select {
	case <-p.exited:
		t.Fatalf("the proxy exited:\n%s", p.stderr)
	default:
	}
}
