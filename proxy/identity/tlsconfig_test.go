package identity

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/testpki"
)

type pki struct {
	ca, rogue *testpki.CA
}

func newPKI() pki { return pki{ca: testpki.MustCA("ca"), rogue: testpki.MustCA("rogue")} }

func material(t *testing.T, ca *testpki.CA, leaf *testpki.Leaf, ciphers, minv string) *Material {
	t.Helper()
	m, err := New(leaf.TLSCertificate(), ca.Pool(), ciphers, minv)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// handshake runs a client and a server handshake over a pipe-like loopback connection.
func handshake(t *testing.T, server, client *tls.Config) (serverErr, clientErr error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			serverErr = err
			return
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		serverErr = tls.Server(c, server).HandshakeContext(ctx)
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tc := tls.Client(c, client)
	clientErr = tc.HandshakeContext(ctx)
	if clientErr == nil {
		// TLS 1.3 clients finish before the server judged their certificate: read to learn.
		_ = tc.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, rerr := tc.Read(make([]byte, 1))
		if rerr != nil && !errors.Is(rerr, net.ErrClosed) && !strings.Contains(rerr.Error(), "EOF") && !isTimeout(rerr) {
			clientErr = rerr
		}
	}
	c.Close()
	wg.Wait()
	return serverErr, clientErr
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestMutualTLS(t *testing.T) {
	p := newPKI()
	proxy := material(t, p.ca, p.ca.MustIssue(testpki.LeafOptions{DNS: []string{"fed.example.com"}}), "", "")
	partnerLeaf := p.ca.MustIssue(testpki.LeafOptions{DNS: []string{"edge.partner.example"}})
	partner := material(t, p.ca, partnerLeaf, "", "")
	rogueLeaf := p.rogue.MustIssue(testpki.LeafOptions{DNS: []string{"edge.partner.example"}})
	rogue := material(t, p.rogue, rogueLeaf, "", "")
	rogueCert := rogueLeaf.TLSCertificate()
	rogueClient := &tls.Config{InsecureSkipVerify: true, GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &rogueCert, nil }}

	allow := func(want string) (PeerCheck, *[]Peer) {
		var seen []Peer
		var mu sync.Mutex
		return func(pe Peer) error {
			mu.Lock()
			seen = append(seen, pe)
			mu.Unlock()
			if pe.ChainErr != nil {
				return pe.ChainErr
			}
			for _, id := range pe.Identities {
				if id == want {
					return nil
				}
			}
			return errors.New("not a peer subject: " + strings.Join(pe.Identities, ","))
		}, &seen
	}

	t.Run("inbound accepted", func(t *testing.T) {
		check, seen := allow("edge.partner.example")
		serr, cerr := handshake(t, proxy.MutualServerConfig(check), partner.ClientConfig(nil))
		if serr != nil || cerr != nil {
			t.Fatalf("server %v, client %v", serr, cerr)
		}
		if len(*seen) != 1 || (*seen)[0].Conn == nil || (*seen)[0].Identities[0] != "edge.partner.example" {
			t.Fatalf("check saw %+v", *seen)
		}
	})
	t.Run("inbound unknown subject", func(t *testing.T) {
		check, _ := allow("someone.else")
		serr, _ := handshake(t, proxy.MutualServerConfig(check), partner.ClientConfig(nil))
		if serr == nil || !strings.Contains(serr.Error(), "edge.partner.example") {
			t.Fatalf("server error %v; want a rejection naming the identity", serr)
		}
	})
	t.Run("inbound untrusted CA", func(t *testing.T) {
		check, seen := allow("edge.partner.example")
		serr, _ := handshake(t, proxy.MutualServerConfig(check), rogueClient)
		if serr == nil || len(*seen) != 1 || (*seen)[0].ChainErr == nil {
			t.Fatalf("server error %v, check saw %+v; want a chain failure", serr, *seen)
		}
	})
	t.Run("inbound without client certificate", func(t *testing.T) {
		check, _ := allow("edge.partner.example")
		serr, _ := handshake(t, proxy.MutualServerConfig(check), &tls.Config{InsecureSkipVerify: true})
		if serr == nil {
			t.Fatal("a client without certificate was accepted")
		}
	})
	t.Run("outbound accepted and unknown subject", func(t *testing.T) {
		check, _ := allow("edge.partner.example")
		server := partner.MutualServerConfig(nil)
		if serr, cerr := handshake(t, server, proxy.ClientConfig(check)); serr != nil || cerr != nil {
			t.Fatalf("server %v, client %v", serr, cerr)
		}
		check, _ = allow("other.partner.example")
		if _, cerr := handshake(t, server, proxy.ClientConfig(check)); cerr == nil || !strings.Contains(cerr.Error(), "edge.partner.example") {
			t.Fatalf("client error %v; want a rejection naming the identity", cerr)
		}
	})
	t.Run("outbound untrusted partner", func(t *testing.T) {
		check, _ := allow("edge.partner.example")
		if _, cerr := handshake(t, rogue.ServerConfig(), proxy.ClientConfig(check)); cerr == nil {
			t.Fatal("a partner with an untrusted chain was accepted")
		}
	})
}

func TestNonECCiphersWithRSAKey(t *testing.T) {
	p := newPKI()
	rsaLeaf := p.ca.MustIssue(testpki.LeafOptions{DNS: []string{"fed.example.com"}, Key: testpki.RSA})
	m := material(t, p.ca, rsaLeaf, "AES128-GCM-SHA256,ECDHE-RSA-AES128-GCM-SHA256", "1.2")
	client := &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}}
	if serr, cerr := handshake(t, m.ServerConfig(), client); serr != nil || cerr != nil {
		t.Fatalf("a Lync-like client (RSA key exchange only) failed: server %v, client %v", serr, cerr)
	}
	if _, err := New(p.ca.MustIssue(testpki.LeafOptions{DNS: []string{"x"}}).TLSCertificate(), p.ca.Pool(), "AES128-GCM-SHA256", "1.2"); err == nil {
		t.Fatal("an ECDSA certificate with non-EC suites only was accepted")
	}
}

func TestLoad(t *testing.T) {
	p := newPKI()
	leaf := p.ca.MustIssue(testpki.LeafOptions{DNS: []string{"fed.example.com"}})
	f, err := leaf.WriteFiles(t.TempDir(), "proxy", p.ca)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Load(Options{CertFile: f.Cert, KeyFile: f.Key, CAFile: f.CA, MinVersion: "1.3"})
	if err != nil {
		t.Fatal(err)
	}
	if m.ServerConfig().MinVersion != tls.VersionTLS13 || m.Leaf().DNSNames[0] != "fed.example.com" {
		t.Fatal("Load lost a setting")
	}
	if _, err := Load(Options{CertFile: f.Cert, KeyFile: f.Key, CAFile: f.Cert + ".missing"}); err == nil {
		t.Fatal("a missing CA file was accepted")
	}
	if _, err := Load(Options{CertFile: f.Cert, KeyFile: f.Key, CAFile: f.CA, Ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256"}); err == nil || !strings.Contains(err.Error(), "Lync") {
		t.Fatalf("EC-only ciphers: %v", err)
	}
}
