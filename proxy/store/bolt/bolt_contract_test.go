package bolt_test

import (
	"path/filepath"
	"testing"

	"github.com/sipfed/terraform-provider-sip/proxy/store"
	"github.com/sipfed/terraform-provider-sip/proxy/store/bolt"
	"github.com/sipfed/terraform-provider-sip/proxy/store/storetest"
)

// The store contract, shared with the etcd backend.
func TestContract(t *testing.T) {
	open := func(t *testing.T, dir string) store.Store {
		s, err := bolt.Open(dir, bolt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	storetest.Run(t, storetest.Backend{
		Open: func(t *testing.T) store.Store { return open(t, t.TempDir()) },
		Reopen: func(t *testing.T, s store.Store) store.Store {
			dir := filepath.Dir(s.(*bolt.Store).Path())
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			return open(t, dir)
		},
	})
}
