package bolt

import (
	"hash/crc32"
	"testing"
)

// crcSmall is crc32.Update without the heap: the same sums.
func TestCRCSmallIsCRC32C(t *testing.T) {
	for _, in := range []string{"", "a", "objects/federated_domain", "\x00\xff\x10"} {
		for _, seed := range []uint32{0, 1, 0xdeadbeef} {
			if got, want := crcSmall(seed, []byte(in)), crc32.Update(seed, castagnoli, []byte(in)); got != want {
				t.Errorf("crcSmall(%#x, %q) = %#x, want %#x", seed, in, got, want)
			}
		}
	}
}

// A record sealed under one key or bucket does not open under another, even when the same bytes
// are split differently between bucket name and key.
func TestSealBindsBucketAndKey(t *testing.T) {
	v := seal([]byte("objects/a"), []byte("bc"), []byte("payload"))
	if _, err := unseal([]byte("objects/a"), []byte("bc"), v); err != nil {
		t.Fatal(err)
	}
	for _, other := range [][2]string{{"objects/ab", "c"}, {"objects/a", "bd"}, {"side/a", "bc"}} {
		if _, err := unseal([]byte(other[0]), []byte(other[1]), v); err == nil {
			t.Errorf("a record sealed under objects/a bc opened under %s %s", other[0], other[1])
		}
	}
}
