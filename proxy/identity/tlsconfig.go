package identity

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
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

// Material is the proxy's TLS material: its certificate and key, the CA bundle, and the cipher
// settings. The certificate, key and CA bundle can be replaced while the proxy runs (Reload, on
// SIGHUP): every tls.Config that Material hands out reads the current ones at each handshake, so
// connections already open stay up and the next handshake uses the new certificate. A reload
// that fails keeps what is in use.
type Material struct {
	opts       Options // the files to reload from; empty when built by New
	suites     []uint16
	minVersion uint16
	cur        atomic.Pointer[keys]

	reloadMu           sync.Mutex
	reloadOK, reloadKO atomic.Uint64
	// now is the clock chains are verified at; tests leave it nil.
	now func() time.Time
}

// keys is one generation of the replaceable material.
type keys struct {
	cert  tls.Certificate // Leaf set
	roots *x509.CertPool
	// caNotAfter is the earliest expiry in the CA bundle; zero when the bundle's certificates
	// are unknown (a pool built in memory).
	caNotAfter time.Time
}

// Load reads and checks the files and settings of o. It fails on a key that does not match the
// certificate, an empty CA bundle, and a cipher selection the peers cannot use.
func Load(o Options) (*Material, error) {
	if o.CertFile == "" || o.KeyFile == "" || o.CAFile == "" {
		return nil, errors.New("TLS needs --tls-cert, --tls-key and --tls-ca")
	}
	k, err := readKeys(o)
	if err != nil {
		return nil, err
	}
	m, err := newMaterial(k, o.Ciphers, o.MinVersion)
	if err != nil {
		return nil, err
	}
	m.opts = o
	return m, nil
}

// readKeys reads the certificate, key and CA bundle files of o.
func readKeys(o Options) (*keys, error) {
	cert, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	caPEM, err := os.ReadFile(o.CAFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-ca: %w", err)
	}
	roots := x509.NewCertPool()
	var earliest time.Time
	for rest := caPEM; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %s: %w", o.CAFile, err)
		}
		roots.AddCert(c)
		if earliest.IsZero() || c.NotAfter.Before(earliest) {
			earliest = c.NotAfter
		}
	}
	if earliest.IsZero() {
		return nil, fmt.Errorf("--tls-ca: %s holds no PEM certificate", o.CAFile)
	}
	return &keys{cert: cert, roots: roots, caNotAfter: earliest}, nil
}

// New builds material from a certificate and a CA pool already in memory (tests, the demo).
func New(cert tls.Certificate, roots *x509.CertPool, ciphers, minVersion string) (*Material, error) {
	return newMaterial(&keys{cert: cert, roots: roots}, ciphers, minVersion)
}

func newMaterial(k *keys, ciphers, minVersion string) (*Material, error) {
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
	m := &Material{suites: suites, minVersion: mv}
	if err := m.check(k); err != nil {
		return nil, err
	}
	m.cur.Store(k)
	return m, nil
}

// check completes k's leaf and refuses a certificate the cipher settings cannot use.
func (m *Material) check(k *keys) error {
	if len(k.cert.Certificate) == 0 {
		return errors.New("TLS certificate is empty")
	}
	if k.cert.Leaf == nil {
		leaf, err := x509.ParseCertificate(k.cert.Certificate[0])
		if err != nil {
			return fmt.Errorf("TLS certificate: %w", err)
		}
		k.cert.Leaf = leaf
	}
	if m.minVersion == tls.VersionTLS12 {
		return usableWithKey(m.suites, k.cert)
	}
	return nil
}

// ErrNotReloadable is Reload's answer for material that was not read from files.
var ErrNotReloadable = errors.New("TLS material was not read from files: nothing to reload")

// Reload reads the certificate, key and CA bundle files again and, when they are sound, swaps
// them in: new handshakes use them, open connections are left alone. Files that cannot be read,
// a key that does not match the certificate, an empty CA bundle or a certificate the cipher
// settings cannot use change nothing: the material in use stays, and the error says why.
func (m *Material) Reload() error {
	if m.opts.CertFile == "" {
		return ErrNotReloadable
	}
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	k, err := readKeys(m.opts)
	if err == nil {
		err = m.check(k)
	}
	if err != nil {
		m.reloadKO.Add(1)
		return fmt.Errorf("TLS reload failed, keeping the certificate in use (expires %s): %w",
			m.Leaf().NotAfter.UTC().Format(time.RFC3339), err)
	}
	m.cur.Store(k)
	m.reloadOK.Add(1)
	return nil
}

// Swap replaces the certificate and CA pool with ones already in memory, with the checks of
// Reload (tests, the demo).
func (m *Material) Swap(cert tls.Certificate, roots *x509.CertPool) error {
	k := &keys{cert: cert, roots: roots}
	if err := m.check(k); err != nil {
		return err
	}
	m.cur.Store(k)
	return nil
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

// Leaf is the proxy's own certificate, as of now.
func (m *Material) Leaf() *x509.Certificate { return m.cur.Load().cert.Leaf }

// Roots is the CA bundle, as of now.
func (m *Material) Roots() *x509.CertPool { return m.cur.Load().roots }

// CANotAfter is the earliest expiry of the CA bundle's certificates; zero when the material was
// built in memory.
func (m *Material) CANotAfter() time.Time { return m.cur.Load().caNotAfter }

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
		Roots:         m.Roots(),
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

// The configurations below are built once by their user (the relay builds its listeners' and
// dialers' at start) and stay valid across reloads: the certificate and the CA bundle are read
// from the current material in the handshake itself (GetConfigForClient, GetCertificate,
// GetClientCertificate, VerifyConnection), never copied into the tls.Config.

// MutualServerConfig is the external listener's configuration: it serves the proxy's certificate
// and requires a client certificate that verifies against the CA bundle and passes check. The
// check runs in the handshake, so a rejected peer never gets to send SIP.
func (m *Material) MutualServerConfig(check PeerCheck) *tls.Config {
	base := m.base()
	// The chain is verified in VerifyConnection, with any key usage (see VerifyChain); listing
	// the CAs still tells clients which certificate to present.
	base.ClientAuth = tls.RequireAnyClientCert
	return &tls.Config{
		MinVersion: m.minVersion,
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			k := m.cur.Load()
			c := base.Clone()
			c.Certificates = []tls.Certificate{k.cert}
			c.ClientCAs = k.roots
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
	c.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &m.cur.Load().cert, nil }
	return c
}

// ClientConfig presents the proxy's certificate and verifies the server's chain against the CA
// bundle, then runs check (nil: the chain is enough, as toward the internal next hop). The
// server's name is not compared with the dialled host: toward partners the identity must be a TLS
// peer subject, whatever name or address the route used.
func (m *Material) ClientConfig(check PeerCheck) *tls.Config {
	c := m.base()
	// GetClientCertificate, not Certificates: always present ours (the current one), even when
	// the server's list of acceptable CAs does not name our issuer.
	c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &m.cur.Load().cert, nil }
	c.InsecureSkipVerify = true // replaced by VerifyConnection, which checks the chain
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		return m.verifyPeer(Peer{State: cs}, check)
	}
	// sipgo sets ServerName to the dialled address; an IP literal sends no SNI, which is what a
	// route to an IP literal means.
	return c
}

// Options are the files and settings the material was loaded with; zero when built by New.
func (m *Material) Options() Options { return m.opts }
