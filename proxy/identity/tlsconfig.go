package identity

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"time"
)

// Options are the proxy's TLS flags.
type Options struct {
	CertFile string // --tls-cert: served on TLS listeners and presented as client certificate
	KeyFile  string // --tls-key
	CAFile   string // --tls-ca: the bundle partner and internal certificates must chain to
	// Ciphers is --tls-ciphers: see ParseCiphers. Empty: Go's TLS 1.2 suites plus non-EC ones.
	Ciphers string
	// MinVersion is --tls-min-version: "1.2" (default) or "1.3".
	MinVersion string
}

// Material is loaded TLS material, from which the configurations are built.
type Material struct {
	cert       tls.Certificate
	roots      *x509.CertPool
	suites     []uint16
	minVersion uint16
	// now is the clock chains are verified at; tests leave it nil.
	now func() time.Time
}

// Load reads and checks the files and settings of o. It fails on a key that does not match the
// certificate, an empty CA bundle, and a cipher selection the peers cannot use.
func Load(o Options) (*Material, error) {
	if o.CertFile == "" || o.KeyFile == "" || o.CAFile == "" {
		return nil, errors.New("TLS needs --tls-cert, --tls-key and --tls-ca")
	}
	cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	caPEM, err := os.ReadFile(o.CAFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-ca: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("--tls-ca: %s holds no PEM certificate", o.CAFile)
	}
	return New(cert, roots, o.Ciphers, o.MinVersion)
}

// New builds material from a certificate and a CA pool already in memory (tests, the demo).
func New(cert tls.Certificate, roots *x509.CertPool, ciphers, minVersion string) (*Material, error) {
	if len(cert.Certificate) == 0 {
		return nil, errors.New("TLS certificate is empty")
	}
	if cert.Leaf == nil {
		leaf, err := x509.ParseCertificate(cert.Certificate[0])
		if err != nil {
			return nil, fmt.Errorf("TLS certificate: %w", err)
		}
		cert.Leaf = leaf
	}
	mv, err := ParseMinVersion(minVersion)
	if err != nil {
		return nil, err
	}
	cl, err := parseCipherList(ciphers)
	if err != nil {
		return nil, err
	}
	suites := cl.tls12
	if suites == nil {
		suites = defaultSuites()
	}
	if mv == tls.VersionTLS12 {
		if err := usableWithKey(suites, cert); err != nil {
			return nil, err
		}
	}
	return &Material{cert: cert, roots: roots, suites: suites, minVersion: mv}, nil
}

// usableWithKey refuses a TLS 1.2 suite list that cannot authenticate with the certificate's key:
// ECDSA keys work only with ECDHE-ECDSA suites, RSA keys with the others.
func usableWithKey(suites []uint16, cert tls.Certificate) error {
	_, ecKey := cert.Leaf.PublicKey.(*ecdsa.PublicKey)
	if _, ed := cert.Leaf.PublicKey.(ed25519.PublicKey); ed {
		ecKey = true
	}
	for _, id := range suites {
		if isECDSA(id) == ecKey {
			return nil
		}
	}
	if ecKey {
		return errors.New("--tls-ciphers: the certificate has an elliptic-curve key, which only ECDHE-ECDSA suites can use, and none is selected; use an RSA certificate for non-EC suites (Lync/Skype for Business) or add ECDHE-ECDSA suites")
	}
	return errors.New("--tls-ciphers: the certificate has an RSA key and only ECDHE-ECDSA suites are selected")
}

// Leaf is the proxy's own certificate.
func (m *Material) Leaf() *x509.Certificate { return m.cert.Leaf }

// Roots is the CA bundle.
func (m *Material) Roots() *x509.CertPool { return m.roots }

// Peer is what a handshake learned about the other side.
type Peer struct {
	// Conn is the connection on a server; nil on a client, where State.ServerName names the
	// dialled peer.
	Conn  net.Conn
	State tls.ConnectionState
	// Identities are the RFC 5922 identities of the peer's certificate.
	Identities []string
	// ChainErr is set when the chain did not verify against the CA bundle: the handshake fails
	// whatever the check answers (with the check's error if it returns one, to describe the
	// failure its own way, else with ChainErr); the check is called to log and count.
	ChainErr error
}

// PeerCheck decides on a peer in the handshake. An error fails the handshake.
type PeerCheck func(p Peer) error

// VerifyChain verifies a peer's chain against the CA bundle. Any extended key usage is accepted:
// SIP edges act as both client and server with one certificate, and many partner certificates
// carry serverAuth only.
func (m *Material) VerifyChain(certs []*x509.Certificate) error {
	if len(certs) == 0 {
		return errors.New("peer presented no certificate")
	}
	opts := x509.VerifyOptions{
		Roots:         m.roots,
		Intermediates: x509.NewCertPool(),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}
	if m.now != nil {
		opts.CurrentTime = m.now()
	}
	for _, c := range certs[1:] {
		opts.Intermediates.AddCert(c)
	}
	if _, err := certs[0].Verify(opts); err != nil {
		return fmt.Errorf("certificate of %v does not verify against --tls-ca: %w", Of(certs[0]), err)
	}
	return nil
}

func (m *Material) verifyPeer(p Peer, check PeerCheck) error {
	if len(p.State.PeerCertificates) > 0 {
		p.Identities = Of(p.State.PeerCertificates[0])
	}
	p.ChainErr = m.VerifyChain(p.State.PeerCertificates)
	if check == nil {
		return p.ChainErr
	}
	err := check(p)
	if p.ChainErr != nil && err == nil {
		return p.ChainErr
	}
	return err
}

func (m *Material) base() *tls.Config {
	return &tls.Config{
		MinVersion:   m.minVersion,
		CipherSuites: slices.Clone(m.suites),
	}
}

// MutualServerConfig is the external listener's configuration: it serves the proxy's certificate
// and requires a client certificate that verifies against the CA bundle and passes check. The
// check runs in the handshake, so a rejected peer never gets to send SIP.
func (m *Material) MutualServerConfig(check PeerCheck) *tls.Config {
	base := m.base()
	base.Certificates = []tls.Certificate{m.cert}
	// The chain is verified in VerifyConnection, with any key usage (see VerifyChain); listing
	// the CAs still tells clients which certificate to present.
	base.ClientAuth = tls.RequireAnyClientCert
	base.ClientCAs = m.roots
	return &tls.Config{
		MinVersion: m.minVersion,
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			c := base.Clone()
			conn := hello.Conn
			c.VerifyConnection = func(cs tls.ConnectionState) error {
				return m.verifyPeer(Peer{Conn: conn, State: cs}, check)
			}
			return c, nil
		},
	}
}

// ServerConfig serves the proxy's certificate without asking for a client certificate: the
// internal listeners, toward the enterprise's own servers.
func (m *Material) ServerConfig() *tls.Config {
	c := m.base()
	c.Certificates = []tls.Certificate{m.cert}
	return c
}

// ClientConfig presents the proxy's certificate and verifies the server's chain against the CA
// bundle, then runs check (nil: the chain is enough, as toward the internal next hop). The
// server's name is not compared with the dialled host: toward partners the identity must be a TLS
// peer subject, whatever name or address the route used.
func (m *Material) ClientConfig(check PeerCheck) *tls.Config {
	c := m.base()
	cert := m.cert
	// GetClientCertificate, not Certificates: always present ours, even when the server's list
	// of acceptable CAs does not name our issuer.
	c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	c.InsecureSkipVerify = true // replaced by VerifyConnection, which checks the chain
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		return m.verifyPeer(Peer{State: cs}, check)
	}
	// sipgo sets ServerName to the dialled address; an IP literal sends no SNI, which is what a
	// route to an IP literal means.
	return c
}
