package bolt

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/sipfed/terraform-provider-sip/proxy/store"
	bbolt "go.etcd.io/bbolt"
)

var _ store.Backuper = (*Store)(nil)

// Backup writes a consistent copy of the store to w: bbolt's Tx.WriteTo inside one read
// transaction, so writes go on while it runs and the copy is the store at one revision. The copy
// is a store file that Open, Check and Restore take as it is.
func (s *Store) Backup(ctx context.Context, w io.Writer, begin func(size int64, revision uint64)) (int64, error) {
	var n int64
	err := s.view(func(tx *bbolt.Tx) error {
		rev, err := readRevision(tx)
		if err != nil {
			return err
		}
		begin(tx.Size(), rev)
		n, err = tx.WriteTo(ctxWriter{ctx, w})
		return err
	})
	return n, s.wrap(err)
}

// ctxWriter stops a copy whose requester went away: the read transaction it holds keeps bbolt
// from growing its memory map, which a write may need.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// SaveBackup writes a backup read from r to the file to: beside it first, fsynced and checked
// completely, then renamed over it. size, when not negative, is the length the sender announced.
// A backup that fails its check is not kept.
func SaveBackup(to string, r io.Reader, size int64) (*Report, error) {
	var rep *Report
	err := writeFileAtomicChecked(to, func(w *countingWriter) error {
		if _, err := io.Copy(w, r); err != nil {
			return err
		}
		if size >= 0 && w.n != size {
			return fmt.Errorf("received %d bytes, the proxy announced %d", w.n, size)
		}
		return nil
	}, func(tmp string) error {
		var err error
		rep, err = Check(tmp, 0)
		return err
	})
	if rep != nil {
		rep.Path = to
	}
	return rep, err
}

// RestoreResult says what Restore did.
type RestoreResult struct {
	Report *Report // the restored store
	// Previous is where the store that was replaced is kept; "" when there was none.
	Previous string
}

// Restore replaces the store in dir with the backup in from. The backup is checked completely
// first and again once copied; the store must not be open (ErrLocked when a proxy holds it). The
// swap is atomic: the new file is written beside the store, fsynced and renamed over it, and the
// old file stays under another name, so at every moment the store file is whole, old or new.
func Restore(from, dir string) (*RestoreResult, error) {
	src, err := Check(from, 0)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, FileName)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	release, err := holdStore(path)
	if err != nil {
		return nil, err
	}
	defer release()
	res := &RestoreResult{}
	in, err := os.Open(from)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	err = writeFileAtomicChecked(path, func(w *countingWriter) error {
		_, err := io.Copy(w, in)
		return err
	}, func(tmp string) error {
		rep, err := Check(tmp, 0)
		if err == nil && rep.TxID != src.TxID {
			err = fmt.Errorf("the copy differs from the backup (transaction %d, not %d)", rep.TxID, src.TxID)
		}
		res.Report = rep
		if err != nil {
			return err
		}
		return res.keepPrevious(path)
	})
	if err != nil {
		return nil, err
	}
	res.Report.Path = path
	return res, nil
}

// keepPrevious gives the store being replaced a second name, once its replacement is checked.
func (res *RestoreResult) keepPrevious(path string) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	res.Previous = path + ".before-restore-" + time.Now().UTC().Format("20060102T150405Z")
	if err := keepAside(path, res.Previous); err != nil {
		return fmt.Errorf("keeping the current store as %s: %w", res.Previous, err)
	}
	return nil
}

// holdStore locks the store file, when there is one, as a proxy would: a running proxy makes it
// fail with ErrLocked, and none can open the old file while it is being replaced.
func holdStore(path string) (func(), error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return func() {}, nil
	}
	if err != nil {
		return nil, err
	}
	unlock, err := lockExclusive(f, 0)
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() { unlock(); _ = f.Close() }, nil
}

// keepAside gives the current store a second name. A hard link keeps the store file in place
// all along; where links are not possible it is copied.
func keepAside(path, aside string) error {
	if err := os.Link(path, aside); err == nil {
		return syncDir(filepath.Dir(aside))
	}
	in, err := os.Open(path)
	if err != nil {
		return err
	}
	defer in.Close()
	return writeFileAtomic(aside, func(w *countingWriter) error {
		_, err := io.Copy(w, in)
		return err
	})
}

// countingWriter counts what went through it to the file.
type countingWriter struct {
	f *os.File
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.f.Write(p)
	c.n += int64(n)
	return n, err
}

func writeFileAtomic(path string, fill func(w *countingWriter) error) error {
	return writeFileAtomicChecked(path, fill, func(string) error { return nil })
}

// writeFileAtomicChecked writes a file beside path, fsyncs it, lets check read it, and only then
// renames it to path and fsyncs the directory: path is either untouched or whole and checked.
func writeFileAtomicChecked(path string, fill func(w *countingWriter) error, check func(tmp string) error) (err error) {
	var suffix [6]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return err
	}
	tmp := path + ".tmp-" + hex.EncodeToString(suffix[:])
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	err = fill(&countingWriter{f: f})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := check(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
