package testpki

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"testing"
)

func TestIssueVerifiesAndCarriesNames(t *testing.T) {
	ca := MustCA("test CA")
	leaf := ca.MustIssue(LeafOptions{CN: "edge", DNS: []string{"edge.partner.example"}, URIs: []string{"sip:partner.example"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if _, err := leaf.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "edge.partner.example", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("leaf does not verify as a client certificate: %v", err)
	}
	if len(leaf.Cert.URIs) != 1 || leaf.Cert.URIs[0].String() != "sip:partner.example" {
		t.Fatalf("URI SAN = %v", leaf.Cert.URIs)
	}
	other := MustCA("other CA")
	if _, err := leaf.Cert.Verify(x509.VerifyOptions{Roots: other.Pool()}); err == nil {
		t.Fatal("leaf verifies against a foreign CA")
	}
}

func TestCNOnlyLeafHasNoSAN(t *testing.T) {
	leaf := MustCA("ca").MustIssue(LeafOptions{CN: "edge.partner.example", Key: RSA})
	for _, e := range leaf.Cert.Extensions {
		if e.Id.String() == "2.5.29.17" {
			t.Fatal("a leaf without names has a subjectAltName extension")
		}
	}
}

func TestWriteFilesLoadAsKeyPair(t *testing.T) {
	ca := MustCA("ca")
	leaf := ca.MustIssue(LeafOptions{DNS: []string{"fed.example.com"}})
	f, err := leaf.WriteFiles(t.TempDir(), "proxy", ca)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.LoadX509KeyPair(f.Cert, f.Key); err != nil {
		t.Fatalf("written files are not a key pair: %v", err)
	}
	st, err := os.Stat(f.Key)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v, %v", st.Mode(), err)
	}
}
