package identity

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sipfed/terraform-provider-sip/internal/testpki"
	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
)

// echoServer serves cfg on loopback and echoes every line back, one goroutine per connection.
func echoServer(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := c.Write([]byte(line)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// echo sends a line over c and reads it back.
func echo(t *testing.T, c *tls.Conn, line string) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(line + "\n")); err != nil {
		t.Fatalf("write on an open connection: %v", err)
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || got != line+"\n" {
		t.Fatalf("echo on an open connection: %q, %v", got, err)
	}
}

// writeFiles writes leaf and key, and the CA bundle of cas, over the files of f.
func writeFiles(t *testing.T, f testpki.Files, leaf *testpki.Leaf, cas ...*testpki.CA) {
	t.Helper()
	var bundle []byte
	for _, ca := range cas {
		bundle = append(bundle, ca.CertPEM...)
	}
	for path, data := range map[string][]byte{f.Cert: leaf.CertPEM, f.Key: leaf.KeyPEM, f.CA: bundle} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// Rotation: the configurations are built once, as the relay builds them at start; after Reload,
// a connection opened before keeps working and every new handshake, on the server and the client
// side, uses the new certificate and trusts the new CA bundle.
func TestReloadRotatesForNewHandshakesOnly(t *testing.T) {
	oldCA, newCA := testpki.MustCA("old CA"), testpki.MustCA("new CA")
	oldLeaf := oldCA.MustIssue(testpki.LeafOptions{DNS: []string{"fed.example.com"}})
	files, err := oldLeaf.WriteFiles(t.TempDir(), "proxy", oldCA)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Load(Options{CertFile: files.Cert, KeyFile: files.Key, CAFile: files.CA})
	if err != nil {
		t.Fatal(err)
	}
	// A partner whose certificate only the new CA signed: refused before, accepted after.
	partnerLeaf := newCA.MustIssue(testpki.LeafOptions{DNS: []string{"edge.partner.example"}})
	partnerCert := partnerLeaf.TLSCertificate()
	partnerClient := &tls.Config{InsecureSkipVerify: true,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &partnerCert, nil }}
	partner := material(t, newCA, partnerLeaf, "", "")

	internal := echoServer(t, m.ServerConfig())
	external := echoServer(t, m.MutualServerConfig(nil))
	client := m.ClientConfig(nil)

	dial := func(addr string, cfg *tls.Config) (*tls.Conn, error) {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
		if err != nil {
			return nil, err
		}
		// TLS 1.3: the server judges the client certificate after the client finished; a
		// round trip tells.
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("hello\n")); err != nil {
			c.Close()
			return nil, err
		}
		if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
	open, err := dial(internal, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	if got := open.ConnectionState().PeerCertificates[0]; !got.Equal(oldLeaf.Cert) {
		t.Fatal("the first handshake did not see the old certificate")
	}
	if c, err := dial(external, partnerClient); err == nil {
		c.Close()
		t.Fatal("a partner of the new CA was accepted before the reload")
	}

	newLeaf := newCA.MustIssue(testpki.LeafOptions{DNS: []string{"fed.example.com"}})
	writeFiles(t, files, newLeaf, oldCA, newCA)
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}

	echo(t, open, "still up after the reload")
	fresh, err := dial(internal, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if got := fresh.ConnectionState().PeerCertificates[0]; !got.Equal(newLeaf.Cert) {
		t.Fatal("a new handshake on the internal listener did not see the new certificate")
	}
	c, err := dial(external, partnerClient)
	if err != nil {
		t.Fatalf("a partner of the new CA after the reload: %v", err)
	}
	if got := c.ConnectionState().PeerCertificates[0]; !got.Equal(newLeaf.Cert) {
		t.Fatal("a new handshake on the external listener did not see the new certificate")
	}
	c.Close()
	// The client side presents the new certificate and trusts the new CA.
	var presented *x509.Certificate
	server := partner.MutualServerConfig(func(p Peer) error {
		presented = p.State.PeerCertificates[0]
		return p.ChainErr
	})
	if serr, cerr := handshake(t, server, client); serr != nil || cerr != nil {
		t.Fatalf("outbound after the reload: server %v, client %v", serr, cerr)
	}
	if presented == nil || !presented.Equal(newLeaf.Cert) {
		t.Fatal("the client configuration did not present the new certificate")
	}
}

// A reload that fails keeps the material in use, says why, and counts.
func TestReloadFailureKeepsTheMaterialInUse(t *testing.T) {
	ca := testpki.MustCA("ca")
	leaf := ca.MustIssue(testpki.LeafOptions{DNS: []string{"fed.example.com"}, Key: testpki.RSA})
	files, err := leaf.WriteFiles(t.TempDir(), "proxy", ca)
	if err != nil {
		t.Fatal(err)
	}
	// Non-EC suites only (Lync): an ECDSA certificate cannot serve them.
	m, err := Load(Options{CertFile: files.Cert, KeyFile: files.Key, CAFile: files.CA, Ciphers: "AES128-GCM-SHA256"})
	if err != nil {
		t.Fatal(err)
	}
	addr := echoServer(t, m.ServerConfig())
	other := ca.MustIssue(testpki.LeafOptions{DNS: []string{"fed.example.com"}, Key: testpki.RSA})
	ecdsaLeaf := ca.MustIssue(testpki.LeafOptions{DNS: []string{"fed.example.com"}})
	for _, tc := range []struct {
		name  string
		write func()
		want  string
	}{
		{"garbage certificate", func() { _ = os.WriteFile(files.Cert, []byte("not a certificate"), 0o600) }, "--tls-cert"},
		{"key of another certificate", func() {
			_ = os.WriteFile(files.Cert, leaf.CertPEM, 0o600)
			_ = os.WriteFile(files.Key, other.KeyPEM, 0o600)
		}, "private key does not match"},
		{"missing CA bundle", func() {
			_ = os.WriteFile(files.Key, leaf.KeyPEM, 0o600)
			_ = os.Remove(files.CA)
		}, "--tls-ca"},
		{"empty CA bundle", func() { _ = os.WriteFile(files.CA, nil, 0o600) }, "no PEM certificate"},
		{"certificate the ciphers cannot use", func() { writeFiles(t, files, ecdsaLeaf, ca) }, "elliptic-curve key"},
	} {
		tc.write()
		err := m.Reload()
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "keeping the certificate in use") {
			t.Fatalf("%s: Reload = %v, want an error naming %q", tc.name, err, tc.want)
		}
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}})
		if err != nil {
			t.Fatalf("%s: handshake after a failed reload: %v", tc.name, err)
		}
		if !c.ConnectionState().PeerCertificates[0].Equal(leaf.Cert) {
			t.Fatalf("%s: the certificate in use changed", tc.name)
		}
		c.Close()
	}
	reg := prometheus.NewRegistry()
	if err := telemetry.Register(reg, m.Collector()); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() == telemetry.MetricTLSReloads {
			for _, mt := range mf.GetMetric() {
				counts[mt.GetLabel()[0].GetValue()] = mt.GetCounter().GetValue()
			}
		}
	}
	if counts[telemetry.ResultError] != 5 || counts[telemetry.ResultOK] != 0 {
		t.Fatalf("reload counts %v, want 5 errors and no success", counts)
	}
	if err := (&Material{}).Reload(); !errors.Is(err, ErrNotReloadable) {
		t.Fatalf("material built in memory: Reload = %v", err)
	}
}

// The expiry gauges follow the material in use: the certificate's, and the CA bundle's earliest.
func TestExpiryMetrics(t *testing.T) {
	ca, later := testpki.MustCA("ca"), testpki.MustCA("later")
	leaf := ca.MustIssue(testpki.LeafOptions{DNS: []string{"fed.example.com"}})
	files, err := leaf.WriteFiles(t.TempDir(), "proxy", ca)
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, files, leaf, later, ca) // the earliest is not the first in the file
	m, err := Load(Options{CertFile: files.Cert, KeyFile: files.Key, CAFile: files.CA})
	if err != nil {
		t.Fatal(err)
	}
	earliest := ca.Cert.NotAfter
	if later.Cert.NotAfter.Before(earliest) {
		earliest = later.Cert.NotAfter
	}
	reg := prometheus.NewRegistry()
	if err := telemetry.Register(reg, m.Collector()); err != nil {
		t.Fatal(err)
	}
	value := func(name string) float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == name {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		t.Fatalf("%s not exported", name)
		return 0
	}
	if got := value(telemetry.MetricTLSCertificateExpiry); got != float64(leaf.Cert.NotAfter.Unix()) {
		t.Fatalf("certificate expiry %v, want %v", got, leaf.Cert.NotAfter.Unix())
	}
	if got := value(telemetry.MetricTLSCAExpiry); got != float64(earliest.Unix()) {
		t.Fatalf("CA expiry %v, want %v", got, earliest.Unix())
	}
	time.Sleep(1100 * time.Millisecond) // a new certificate expires a second later at least
	renewed := ca.MustIssue(testpki.LeafOptions{DNS: []string{"fed.example.com"}})
	writeFiles(t, files, renewed, ca)
	if err := m.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := value(telemetry.MetricTLSCertificateExpiry); got != float64(renewed.Cert.NotAfter.Unix()) || got == float64(leaf.Cert.NotAfter.Unix()) {
		t.Fatalf("certificate expiry after the reload %v, want %v", got, renewed.Cert.NotAfter.Unix())
	}
}

// Handshakes and reloads at once: every handshake sees one whole generation (a certificate
// with its own key), never a mix; the race detector watches the swap.
func TestReloadDuringHandshakes(t *testing.T) {
	ca := testpki.MustCA("ca")
	leaves := []*testpki.Leaf{
		ca.MustIssue(testpki.LeafOptions{DNS: []string{"fed.example.com"}}),
		ca.MustIssue(testpki.LeafOptions{DNS: []string{"fed.example.com"}}),
	}
	files, err := leaves[0].WriteFiles(t.TempDir(), "proxy", ca)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Load(Options{CertFile: files.Cert, KeyFile: files.Key, CAFile: files.CA})
	if err != nil {
		t.Fatal(err)
	}
	addr := echoServer(t, m.ServerConfig())
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		for i := 1; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			// Files are renamed into place: a reload reads a whole pair or the old one.
			l := leaves[i%2]
			for path, data := range map[string][]byte{files.Cert + ".new": l.CertPEM, files.Key + ".new": l.KeyPEM} {
				if err := os.WriteFile(path, data, 0o600); err != nil {
					done <- err
					return
				}
			}
			_ = os.Rename(files.Key+".new", files.Key)
			_ = os.Rename(files.Cert+".new", files.Cert)
			_ = m.Reload() // between the two renames the pair does not match: refused, kept
		}
	}()
	for range 50 {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "fed.example.com"})
		if err != nil {
			t.Fatalf("handshake during reloads: %v", err)
		}
		got := c.ConnectionState().PeerCertificates[0]
		if !got.Equal(leaves[0].Cert) && !got.Equal(leaves[1].Cert) {
			t.Fatal("a handshake saw a certificate that was never configured")
		}
		echo(t, c, "ping")
		c.Close()
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
