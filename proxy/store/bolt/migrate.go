package bolt

import (
	"bytes"
	"fmt"
	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
	"log/slog"

	bbolt "go.etcd.io/bbolt"
)

// A store from before record checksums (format 0) is migrated on open rather than refused: an
// operator upgrading should not need a manual step, and nothing can be lost by it. Check has
// read every page and every record's syntax before, the rewrite is one bbolt transaction (a crash
// in it leaves the old file as it was), and a copy of the old file is kept beside it: the
// previous binary cannot read format 1, so that copy is the way back.

// format0Copy is where the pre-migration file is kept.
func format0Copy(path string) string { return path + ".format0" }

func (s *Store) migrate(rep *Report, log *slog.Logger) error {
	aside := format0Copy(s.Path())
	err := writeFileAtomic(aside, func(w *countingWriter) error {
		return s.db.View(func(tx *bbolt.Tx) error {
			_, err := tx.WriteTo(w)
			return err
		})
	})
	if err != nil {
		return fmt.Errorf("keeping a copy before migrating to format %d: %w", storeFormat, err)
	}
	n := 0
	err = s.db.Update(func(tx *bbolt.Tx) error {
		var names [][]byte
		if err := tx.ForEach(func(name []byte, _ *bbolt.Bucket) error {
			names = append(names, bytes.Clone(name))
			return nil
		}); err != nil {
			return err
		}
		for _, name := range names {
			sealed, err := sealBucket(tx.Bucket(name), name)
			if err != nil {
				return err
			}
			n += sealed
		}
		return putFormat(tx)
	})
	if err != nil {
		return fmt.Errorf("migrating to format %d: %w", storeFormat, err)
	}
	log.Info("store migrated to format 1: every record now carries a CRC-32C checksum",
		telemetry.KeyFile, s.Path(), telemetry.KeyCount, n, telemetry.KeyRevision, rep.Revision, telemetry.KeyBackup, aside)
	return nil
}

// sealBucket puts every value of b in its envelope. bbolt forbids changing a bucket while a
// cursor walks it, so the records are read first.
func sealBucket(b *bbolt.Bucket, name []byte) (int, error) {
	var kvs [][2][]byte
	if err := b.ForEach(func(k, v []byte) error {
		kvs = append(kvs, [2][]byte{bytes.Clone(k), bytes.Clone(v)})
		return nil
	}); err != nil {
		return 0, err
	}
	for _, kv := range kvs {
		if err := b.Put(kv[0], seal(name, kv[0], kv[1])); err != nil {
			return 0, err
		}
	}
	return len(kvs), nil
}
