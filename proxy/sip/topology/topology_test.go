package topology

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"strconv"
	"strings"
	"testing"
)

func codec(t *testing.T) *Codec {
	t.Helper()
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(k)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestMarkers(t *testing.T) {
	a, b := codec(t), codec(t)
	m := a.Marker("fed.example.com")
	if !a.IsOwn([]byte("FED.example.com"), []byte(m)) {
		t.Fatal("own marker not recognised")
	}
	if a.IsOwn([]byte("other.example.com"), []byte(m)) {
		t.Fatal("a marker made for one name matches another")
	}
	if b.IsOwn([]byte("fed.example.com"), []byte(m)) {
		t.Fatal("another deployment's marker matches ours")
	}
	if a.IsOwn([]byte("fed.example.com"), []byte("")) {
		t.Fatal("an empty marker matches")
	}
}

func TestSealOpen(t *testing.T) {
	a, b := codec(t), codec(t)
	s := a.Seal(nil, []byte("sip:bob@10.0.0.5:5060;transport=tcp"))
	if bytes.Contains(s, []byte("10.0.0.5")) {
		t.Fatal("sealed text shows the plaintext")
	}
	if got, ok := a.Open(nil, s); !ok || string(got) != "sip:bob@10.0.0.5:5060;transport=tcp" {
		t.Fatalf("Open = %q, %v", got, ok)
	}
	if _, ok := b.Open(nil, s); ok {
		t.Fatal("another key opened it")
	}
	s[len(s)/2] ^= 1
	if _, ok := a.Open(nil, s); ok {
		t.Fatal("a tampered value opened")
	}
}

func TestCrossCallID(t *testing.T) {
	a, b := codec(t), codec(t)
	internal := []byte("a84b4c76e66710@10.0.0.5")
	out := a.CrossCallID(nil, internal)
	if bytes.Contains(out, []byte("10.0.0.5")) {
		t.Fatalf("masked Call-ID %q shows the internal host", out)
	}
	if again := a.CrossCallID(nil, internal); !bytes.Equal(again, out) {
		t.Fatal("masking is not deterministic: a dialog's messages would disagree")
	}
	if back := a.CrossCallID(nil, out); !bytes.Equal(back, internal) {
		t.Fatalf("crossing back gives %q", back)
	}
	// A partner's Call-ID crossing in is masked; crossing out again it is the partner's own.
	partner := []byte("xyz@edge.partner.com")
	in := a.CrossCallID(nil, partner)
	if back := a.CrossCallID(nil, in); !bytes.Equal(back, partner) {
		t.Fatalf("partner Call-ID came back as %q", back)
	}
	// Another deployment's masked Call-ID is just a Call-ID to us.
	foreign := b.CrossCallID(nil, internal)
	if back := a.CrossCallID(nil, a.CrossCallID(nil, foreign)); !bytes.Equal(back, foreign) {
		t.Fatal("a foreign masked Call-ID did not survive a round trip")
	}
	// A forged prefix does not decode to anything.
	forged := []byte(callIDPrefix + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	if back := a.CrossCallID(nil, a.CrossCallID(nil, forged)); !bytes.Equal(back, forged) {
		t.Fatal("a forged masked Call-ID was taken for ours")
	}
}

// Every node of a cluster derives its keys from the one deployment key: what one node wrote,
// another reads, and a restart changes nothing.
func TestSameKeySameCodec(t *testing.T) {
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(k)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(append([]byte(nil), k...))
	if err != nil {
		t.Fatal(err)
	}
	if a.Marker("fed.example.com") != b.Marker("fed.example.com") {
		t.Error("two nodes disagree on a marker")
	}
	if got, ok := b.Open(nil, a.Seal(nil, []byte("sip:alice@10.0.0.5"))); !ok || string(got) != "sip:alice@10.0.0.5" {
		t.Errorf("another node opened %q, %v", got, ok)
	}
	id := []byte("abc@10.0.0.5")
	if !bytes.Equal(a.CrossCallID(nil, id), b.CrossCallID(nil, id)) {
		t.Error("two nodes mask a Call-ID differently: a dialog's requests through either would disagree")
	}
}

func TestNewKeySize(t *testing.T) {
	for _, n := range []int{0, 16, KeySize - 1, KeySize + 1, 64} {
		if _, err := New(make([]byte, n)); err != ErrKey {
			t.Errorf("New with a %d-byte key: %v, want ErrKey", n, err)
		}
	}
	if _, err := New(make([]byte, KeySize)); err != nil {
		t.Errorf("New with a %d-byte key: %v", KeySize, err)
	}
}

// Sealed values travel as URI parameters: they must need no escaping, and two seals of one
// value must differ, or a partner could tell which of its dialogs reach the same contact.
func TestSealForm(t *testing.T) {
	c := codec(t)
	plain := []byte("sip:alice@10.0.0.5:5060;transport=tcp?x=y&z=<>")
	s1, s2 := c.Seal(nil, plain), c.Seal(nil, plain)
	if bytes.Equal(s1, s2) {
		t.Error("sealing twice gives the same value")
	}
	for _, s := range [][]byte{s1, s2} {
		for _, ch := range s {
			urlSafe := 'a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' || ch == '-' || ch == '_'
			if !urlSafe {
				t.Fatalf("sealed value %q has %q, not a URI parameter character", s, ch)
			}
		}
	}
	// Seal and Open append to dst.
	if got := c.Seal([]byte("sfr=s"), plain); !bytes.HasPrefix(got, []byte("sfr=s")) {
		t.Errorf("Seal did not append: %q", got)
	}
	if got, ok := c.Open([]byte("pre:"), s1); !ok || string(got) != "pre:"+string(plain) {
		t.Errorf("Open did not append: %q", got)
	}
}

// Open takes what a partner sends back: anything Seal did not make is refused, whatever its
// shape.
func TestOpenRefuses(t *testing.T) {
	c := codec(t)
	s := c.Seal(nil, []byte("x"))
	for name, in := range map[string][]byte{
		"empty":              nil,
		"not base64url":      []byte("!!!!"),
		"standard base64":    []byte("ab+/cd=="),
		"shorter than nonce": s[:8],
		"truncated":          s[:len(s)-1],
		"extended":           append(append([]byte(nil), s...), 'A'),
	} {
		if got, ok := c.Open(nil, in); ok {
			t.Errorf("%s: opened to %q", name, got)
		}
	}
}

func TestMarkerForm(t *testing.T) {
	c := codec(t)
	m := c.Marker("fed.example.com")
	if len(m) != markerLen {
		t.Fatalf("marker %q has %d characters, want %d", m, len(m), markerLen)
	}
	if c.Marker("FED.Example.COM") != m {
		t.Error("a host's marker depends on its case")
	}
	if c.IsOwn([]byte("fed.example.com"), []byte(m[:markerLen-1])) || c.IsOwn([]byte("fed.example.com"), []byte(m+"A")) {
		t.Error("a marker of the wrong length matches")
	}
	long := strings.Repeat("a", 300) + ".example.com"
	if !c.IsOwn([]byte(long), []byte(c.Marker(long))) {
		t.Error("a long host's marker does not match")
	}
}

func TestCrossCallIDShapes(t *testing.T) {
	c := codec(t)
	for _, id := range []string{
		"x",
		strings.Repeat("long-call-id.", 40) + "@10.0.0.5", // past the small buffer
		callIDPrefix + "not-ours",
	} {
		masked := c.CrossCallID(nil, []byte(id))
		if bytes.Equal(masked, []byte(id)) {
			t.Errorf("%q crossed unchanged", id)
		}
		if back := c.CrossCallID(nil, masked); string(back) != id {
			t.Errorf("%q came back as %q", id, back)
		}
		// The masked Call-ID is a valid Call-ID word: base64url after the prefix.
		if !bytes.HasPrefix(masked, []byte(callIDPrefix)) || bytes.ContainsAny(masked, " \t\r\n\"<>") {
			t.Errorf("masked Call-ID %q", masked)
		}
	}
	// A masked Call-ID cut short is not ours: it crosses as any other.
	masked := c.CrossCallID(nil, []byte("abc@10.0.0.5"))
	cut := masked[:len(masked)-2]
	if back := c.CrossCallID(nil, c.CrossCallID(nil, cut)); !bytes.Equal(back, cut) {
		t.Errorf("a damaged masked Call-ID came back as %q", back)
	}
}

// xorCTR must be AES-CTR exactly as cipher.NewCTR computes it: Call-IDs masked before it
// replaced NewCTR, by another node or before a restart, still have to unmask. The counters
// include the carries across bytes and the wrap of all 128 bits.
func TestXorCTRIsCTR(t *testing.T) {
	c := codec(t)
	ivs := map[string][]byte{
		"zero":       make([]byte, aes.BlockSize),
		"byte carry": append(bytes.Repeat([]byte{7}, aes.BlockSize-1), 0xff),
		"long carry": append([]byte{1, 2, 3, 4}, bytes.Repeat([]byte{0xff}, aes.BlockSize-4)...),
		"full wrap":  bytes.Repeat([]byte{0xff}, aes.BlockSize),
		"from a MAC": c.tag([]byte("a84b4c76e66710@10.0.0.5")),
	}
	for name, iv := range ivs {
		for _, n := range []int{0, 1, 15, 16, 17, 31, 32, 33, 47, 64, 100, 255, 300} {
			src := make([]byte, n)
			for i := range src {
				src[i] = byte(i*31 + n)
			}
			want := make([]byte, n)
			cipher.NewCTR(c.callBlock, iv).XORKeyStream(want, src)
			got := make([]byte, n)
			c.xorCTR(new(maskScratch), got, src, iv)
			if !bytes.Equal(got, want) {
				t.Errorf("%s, %d bytes: %x, cipher.NewCTR gives %x", name, n, got, want)
			}
		}
	}
}

// A request crossing to a partner gets its Call-ID masked: that must not cost the heap anything
// past the bytes appended.
func TestMaskCallIDAllocates(t *testing.T) {
	c := codec(t)
	id := []byte("a84b4c76e66710@10.0.0.5")
	dst := make([]byte, 0, 256)
	// Under the race detector, sync.Pool drops what is put back at random: make test runs
	// this test without it too (see GNUmakefile).
	if n := testing.AllocsPerRun(100, func() { dst = c.CrossCallID(dst[:0], id) }); n != 0 && !raceEnabled {
		t.Errorf("masking a Call-ID allocated %.0f times", n)
	}
	long := bytes.Repeat([]byte("x"), 400) // past the pooled buffer: still right
	if back := c.CrossCallID(nil, c.CrossCallID(nil, long)); !bytes.Equal(back, long) {
		t.Errorf("a 400-byte Call-ID came back as %q", back)
	}
}

// Route and Record-Route entries come from partners: IsOwn checks any host one names, and must
// keep nothing of it. Seen in review: every host checked was cached for good, so a partner could
// grow the proxy's memory without bound with entries of random names and markers of the right
// length.
func TestIsOwnKeepsNothingOfOthersHosts(t *testing.T) {
	c := codec(t)
	own := c.Marker("fed.example.com")
	before := c.cachedMarkers()
	fake := []byte(strings.Repeat("A", markerLen))
	for i := range 10000 {
		if c.IsOwn([]byte("h"+strconv.Itoa(i)+".partner.example"), fake) {
			t.Fatal("a made-up marker matched")
		}
	}
	if after := c.cachedMarkers(); after != before {
		t.Errorf("checking 10,000 partner hosts left %d markers cached, want %d", after, before)
	}
	if !c.IsOwn([]byte("FED.example.com"), []byte(own)) || c.IsOwn([]byte("fed.example.org"), []byte(own)) {
		t.Error("IsOwn no longer tells our host from another")
	}
}

// IsOwn runs for every Route and Record-Route entry of every message: for our own hosts, it
// costs the heap nothing.
func TestIsOwnAllocates(t *testing.T) {
	c := codec(t)
	own := []byte(c.Marker("fed.example.com"))
	host := []byte("Fed.Example.com")
	if n := testing.AllocsPerRun(100, func() {
		if !c.IsOwn(host, own) {
			t.Fatal("not own")
		}
	}); n != 0 {
		t.Errorf("IsOwn allocated %.0f times", n)
	}
}

// Marker runs for every Record-Route the proxy writes: for a name it knows, it costs the heap
// nothing.
func TestMarkerAllocates(t *testing.T) {
	c := codec(t)
	want := c.Marker("fed.example.com")
	if n := testing.AllocsPerRun(100, func() {
		if c.Marker("FED.example.com") != want {
			t.Fatal("marker changed")
		}
	}); n != 0 {
		t.Errorf("Marker allocated %.0f times", n)
	}
}
