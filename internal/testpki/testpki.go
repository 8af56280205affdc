// Package testpki makes a throw-away certificate authority and leaf certificates with chosen
// subject alternative names, for tests and for the demo. Nothing here is fit for production: keys
// live in memory and in files the caller names, and certificates are valid for a day.
package testpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// KeyType selects the key algorithm of a certificate.
type KeyType int

const (
	// ECDSA P-256: fast to generate, the default.
	ECDSA KeyType = iota
	// RSA 2048: what Lync/Skype for Business edges use; needed to test non-EC cipher suites.
	RSA
)

// CA is a self-signed certificate authority.
type CA struct {
	Cert    *x509.Certificate
	CertPEM []byte
	key     crypto.Signer
}

// Leaf is a certificate issued by a CA, with its key.
type Leaf struct {
	Cert    *x509.Certificate
	CertPEM []byte
	KeyPEM  []byte
	key     crypto.Signer
}

// LeafOptions choose what a leaf certificate says about its holder. A leaf with no DNS names, URIs
// and IPs has no subjectAltName extension at all, so that RFC 5922 falls back to its CN.
type LeafOptions struct {
	CN   string
	DNS  []string
	URIs []string // e.g. "sip:edge.partner.example"
	IPs  []net.IP
	Key  KeyType
}

// NewCA makes a CA named cn.
func NewCA(cn string) (*CA, error) {
	key, err := newKey(ECDSA)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"sipfed test"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("testpki: create CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, CertPEM: pemBlock("CERTIFICATE", der), key: key}, nil
}

// MustCA is NewCA for tests: it panics on error, which only a broken crypto/rand causes.
func MustCA(cn string) *CA {
	ca, err := NewCA(cn)
	if err != nil {
		panic(err)
	}
	return ca
}

// Issue makes a leaf certificate usable for both TLS server and client authentication, as SIP
// edges are both.
func (ca *CA) Issue(o LeafOptions) (*Leaf, error) {
	key, err := newKey(o.Key)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: o.CN},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     o.DNS,
		IPAddresses:  o.IPs,
	}
	for _, s := range o.URIs {
		u, err := url.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("testpki: URI SAN %q: %w", s, err)
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.key)
	if err != nil {
		return nil, fmt.Errorf("testpki: issue %q: %w", o.CN, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &Leaf{Cert: cert, CertPEM: pemBlock("CERTIFICATE", der), KeyPEM: pemBlock("PRIVATE KEY", keyDER), key: key}, nil
}

// MustIssue is Issue for tests.
func (ca *CA) MustIssue(o LeafOptions) *Leaf {
	l, err := ca.Issue(o)
	if err != nil {
		panic(err)
	}
	return l
}

// Pool is a cert pool holding only this CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// TLSCertificate is the leaf with its key, ready for a tls.Config.
func (l *Leaf) TLSCertificate() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{l.Cert.Raw}, PrivateKey: l.key, Leaf: l.Cert}
}

// Files are the paths WriteFiles wrote.
type Files struct {
	Cert, Key, CA string
}

// WriteFiles writes the leaf's certificate and key and the CA certificate as PEM into dir, named
// after prefix (prefix.crt, prefix.key, prefix-ca.crt). The key file is readable by its owner only.
func (l *Leaf) WriteFiles(dir, prefix string, ca *CA) (Files, error) {
	f := Files{
		Cert: filepath.Join(dir, prefix+".crt"),
		Key:  filepath.Join(dir, prefix+".key"),
		CA:   filepath.Join(dir, prefix+"-ca.crt"),
	}
	err := errors.Join(
		os.WriteFile(f.Cert, l.CertPEM, 0o644),
		os.WriteFile(f.Key, l.KeyPEM, 0o600),
		os.WriteFile(f.CA, ca.CertPEM, 0o644),
	)
	return f, err
}

func newKey(t KeyType) (crypto.Signer, error) {
	switch t {
	case RSA:
		return rsa.GenerateKey(rand.Reader, 2048)
	default:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		panic(err)
	}
	return n
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
