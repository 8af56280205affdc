package admin

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
)

// MinTokenLength keeps guessable tokens out: 16 characters of a random hex token is 64 bits.
const MinTokenLength = 16

// Tokens are the named bearer tokens the admin API accepts. The name is the actor the audit trail
// records for each write. Tokens read from a file are read again by Reload (SIGHUP): the set in
// use is swapped whole, so a request sees either the old tokens or the new ones.
type Tokens struct {
	set  atomic.Pointer[tokenSet]
	file string // the token file; empty when the tokens came from elsewhere

	reloadMu           sync.Mutex
	reloadOK, reloadKO atomic.Uint64
}

type tokenSet struct {
	entries []tokenEntry
}

type tokenEntry struct {
	name   string
	digest [32]byte
}

// NewTokens builds a token set from name -> token.
func NewTokens(named map[string]string) (*Tokens, error) {
	set := &tokenSet{}
	for name, tok := range named {
		if err := set.add(name, tok); err != nil {
			return nil, err
		}
	}
	t := &Tokens{}
	t.set.Store(set)
	return t, nil
}

func (t *tokenSet) add(name, tok string) error {
	if len(tok) < MinTokenLength {
		return fmt.Errorf("token %q is too short: at least %d characters", name, MinTokenLength)
	}
	if strings.ContainsAny(tok, " \t") {
		return fmt.Errorf("token %q contains whitespace", name)
	}
	for _, e := range t.entries {
		if e.name == name {
			return fmt.Errorf("token name %q appears twice", name)
		}
	}
	t.entries = append(t.entries, tokenEntry{name: name, digest: sha256.Sum256([]byte(tok))})
	return nil
}

// Len is the number of tokens.
func (t *Tokens) Len() int { return len(t.set.Load().entries) }

// File is the token file the tokens were read from; empty when they were not.
func (t *Tokens) File() string { return t.file }

// Lookup returns the name of the token presented. Every entry is compared, in constant time over
// equal-length digests, so the time taken says nothing about which token came close.
func (t *Tokens) Lookup(presented string) (string, bool) {
	d := sha256.Sum256([]byte(presented))
	name, found := "", 0
	for _, e := range t.set.Load().entries {
		if subtle.ConstantTimeCompare(d[:], e.digest[:]) == 1 {
			name, found = e.name, 1
		}
	}
	return name, found == 1
}

// LoadTokenFile reads a token file: one token per line, "name:token", or a bare token that is
// named "default". Blank lines and lines starting with # are ignored.
func LoadTokenFile(path string) (*Tokens, error) {
	set, err := readTokenFile(path)
	if err != nil {
		return nil, err
	}
	t := &Tokens{file: path}
	t.set.Store(set)
	return t, nil
}

// ErrNotReloadable is Reload's answer for tokens that did not come from a file.
var ErrNotReloadable = errors.New("admin tokens did not come from a token file: nothing to reload")

// Reload reads the token file again and swaps the new tokens in: from then on a removed token is
// refused and an added one accepted. A file that cannot be read or holds a bad line changes
// nothing: the tokens in use stay, and the error says why.
func (t *Tokens) Reload() error {
	if t.file == "" {
		return ErrNotReloadable
	}
	t.reloadMu.Lock()
	defer t.reloadMu.Unlock()
	set, err := readTokenFile(t.file)
	if err != nil {
		t.reloadKO.Add(1)
		return err
	}
	t.set.Store(set)
	t.reloadOK.Add(1)
	return nil
}

func readTokenFile(path string) (*tokenSet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("admin token file: %w", err)
	}
	defer f.Close()
	t := &tokenSet{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, tok, ok := strings.Cut(line, ":")
		if !ok {
			name, tok = "default", line
		}
		name, tok = strings.TrimSpace(name), strings.TrimSpace(tok)
		if name == "" {
			return nil, fmt.Errorf("admin token file %s line %d: empty token name", path, n)
		}
		if err := t.add(name, tok); err != nil {
			return nil, fmt.Errorf("admin token file %s line %d: %w", path, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("admin token file %s: %w", path, err)
	}
	if len(t.entries) == 0 {
		return nil, fmt.Errorf("admin token file %s holds no token", path)
	}
	return t, nil
}

// GenerateToken returns a random 32-byte token in hex.
func GenerateToken() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}
