package topology

import (
	"bytes"
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
