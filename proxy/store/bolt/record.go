package bolt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// bbolt checksums only its two meta pages: a flipped bit in a data page reaches the caller as a
// plausible value. So every value this package stores is sealed in an envelope:
//
//	0xFA | format version (1 byte) | CRC-32C (4 bytes, big endian) | payload
//
// The CRC covers the bucket name, the key, the payload and the version, so a value that moved to
// another key or bucket, or a key whose bytes flipped, fails the check too. The envelope itself is
// the same in every format (a later one changes only the payload), so the checksum is verified
// before the version is believed: a flipped version byte is damage, not a newer sipfed-proxy.
const (
	envelopeMarker = 0xFA
	// recordFormat is the envelope version this binary writes and the newest it reads.
	recordFormat   = 1
	envelopeHeader = 6
)

// storeFormat is the store-wide format, kept sealed under meta/format. A store without it predates
// envelopes (format 0) and is migrated on open.
const storeFormat = 1

var keyFormat = []byte("format")

// ErrDamaged: the store file holds data that fails its checks. Restore from a backup.
var ErrDamaged = errors.New("store damaged")

// ErrNewerFormat: the store was written by a newer sipfed-proxy than this one.
var ErrNewerFormat = errors.New("store written by a newer sipfed-proxy")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func recordCRC(bucket, key []byte, version byte, payload []byte) uint32 {
	// The lengths frame the parts, so that no split of the same bytes into another bucket name
	// and key gives the same sum. They go last, summed without crc32.Update, which would move
	// them to the heap: one allocation per record was most of a check's cost.
	c := crc32.Update(0, castagnoli, bucket)
	c = crc32.Update(c, castagnoli, key)
	c = crc32.Update(c, castagnoli, payload)
	var trailer [2*binary.MaxVarintLen64 + 1]byte
	n := binary.PutUvarint(trailer[:], uint64(len(bucket)))
	n += binary.PutUvarint(trailer[n:], uint64(len(key)))
	trailer[n] = version
	return crcSmall(c, trailer[:n+1])
}

// crcSmall continues a CRC-32C over a few bytes, as crc32.Update does without its fast paths.
func crcSmall(c uint32, p []byte) uint32 {
	c = ^c
	for _, v := range p {
		c = castagnoli[byte(c)^v] ^ (c >> 8)
	}
	return ^c
}

// seal wraps payload for storage under bucket/key.
func seal(bucket, key, payload []byte) []byte {
	b := make([]byte, envelopeHeader+len(payload))
	b[0], b[1] = envelopeMarker, recordFormat
	binary.BigEndian.PutUint32(b[2:], recordCRC(bucket, key, recordFormat, payload))
	copy(b[envelopeHeader:], payload)
	return b
}

// unseal checks a stored value and returns its payload, which aliases v.
func unseal(bucket, key, v []byte) ([]byte, error) {
	if len(v) < envelopeHeader || v[0] != envelopeMarker {
		return nil, damaged(bucket, key, "no record envelope")
	}
	payload := v[envelopeHeader:]
	if binary.BigEndian.Uint32(v[2:]) != recordCRC(bucket, key, v[1], payload) {
		return nil, damaged(bucket, key, "checksum mismatch")
	}
	switch {
	case v[1] > recordFormat:
		return nil, fmt.Errorf("%w: %s has format %d; this binary reads up to %d",
			ErrNewerFormat, recordName(bucket, key), v[1], recordFormat)
	case v[1] == 0:
		return nil, damaged(bucket, key, "record format 0")
	}
	return payload, nil
}

func damaged(bucket, key []byte, what string) error {
	return fmt.Errorf("%w: %s: %s", ErrDamaged, recordName(bucket, key), what)
}

// recordName names a record for a person: audit entries by revision, others by bucket and key.
func recordName(bucket, key []byte) string {
	if bytes.Equal(bucket, bucketChanges) && len(key) == 8 {
		return fmt.Sprintf("audit entry %d", binary.BigEndian.Uint64(key))
	}
	return fmt.Sprintf("record %s in bucket %s", printable(key), bucket)
}

// printable names a key in a message: as text when it is text, else in hex.
func printable(key []byte) string {
	for _, c := range key {
		if c < 0x20 || c > 0x7e {
			return fmt.Sprintf("0x%x", key)
		}
	}
	return fmt.Sprintf("%q", key)
}
