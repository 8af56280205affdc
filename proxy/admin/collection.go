package admin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/store"
)

// collection is a keyed kind of object the API creates, reads, replaces, deletes and lists:
// federated domains, static routes and TLS peer subjects differ only in what this describes.
type collection struct {
	kind string
	// noun names the kind in messages ("federated domain").
	noun string
	path string
	// keyField is the JSON field that holds the key.
	keyField string
	// serverKey: the server assigns the key on create (static route ids).
	serverKey bool
	// decode reads a request body into a fresh object with the API's defaults, normalized.
	decode func(body []byte) (object, error)
	// load decodes a stored value.
	load func(value []byte) (object, error)
	// list wraps presented objects in the kind's list envelope.
	list func(objs []object, rev uint64) any
	// check, when set, validates an object against the node and the rest of the configuration
	// before it is written (a create or a replace).
	check func(ctx context.Context, s *Server, v object) error
	// deletable, when set, refuses the delete of an object other objects depend on.
	deletable func(ctx context.Context, s *Server, key string) error
}

// object is a value of a collection, whatever its type.
type object interface {
	key() string
	setKey(string)
	validate() error
	// stored is the form kept in the store: read-only fields left out.
	stored() ([]byte, error)
	// presented is the form answered: read-only fields filled in.
	presented() any
}

// decodeInto builds a collection's decode function from its defaults and normalization.
func decodeInto[T any](newT func() T, wrap func(*T) object, normalize func(*T)) func([]byte) (object, error) {
	return func(body []byte) (object, error) {
		v := newT()
		if err := decodeBody(body, &v); err != nil {
			return nil, err
		}
		normalize(&v)
		return wrap(&v), nil
	}
}

func loadInto[T any](wrap func(*T) object) func([]byte) (object, error) {
	return func(b []byte) (object, error) {
		var v T
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, err
		}
		return wrap(&v), nil
	}
}

func (s *Server) collectionHandler(c collection) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			s.list(w, r, c)
		case http.MethodPost:
			s.create(w, r, c)
		default:
			writeError(w, errMethod(http.MethodGet, http.MethodPost))
		}
	}
}

func (s *Server) itemHandler(c collection) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := r.PathValue("key")
		if !c.serverKey {
			key = api.NormalizeName(key)
		}
		switch r.Method {
		case http.MethodGet:
			s.get(w, r, c, key)
		case http.MethodPut:
			s.replace(w, r, c, key)
		case http.MethodDelete:
			s.delete(w, r, c, key)
		default:
			writeError(w, errMethod(http.MethodGet, http.MethodPut, http.MethodDelete))
		}
	}
}

func (s *Server) notFound(c collection, key string) *api.Error {
	return &api.Error{Status: http.StatusNotFound, Code: api.CodeNotFound, Message: fmt.Sprintf("%s %q not found", c.noun, key)}
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, c collection) {
	objs, rev, err := s.cfg.Store.List(r.Context(), c.kind)
	if err != nil {
		writeError(w, err)
		return
	}
	items := make([]object, 0, len(objs))
	for _, o := range objs {
		v, err := c.load(o.Value)
		if err != nil {
			writeError(w, fmt.Errorf("stored %s %q: %w", c.noun, o.Key, err))
			return
		}
		items = append(items, v)
	}
	setRevision(w, rev)
	writeJSON(w, http.StatusOK, c.list(items, rev))
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, c collection, key string) {
	o, err := s.cfg.Store.Get(r.Context(), c.kind, key)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, s.notFound(c, key))
		return
	}
	if err != nil {
		writeError(w, err)
		return
	}
	v, err := c.load(o.Value)
	if err != nil {
		writeError(w, fmt.Errorf("stored %s %q: %w", c.noun, key, err))
		return
	}
	if !s.currentRevision(w, r) {
		return
	}
	w.Header().Set(api.HeaderETag, etag(o.ModRevision))
	writeJSON(w, http.StatusOK, v.presented())
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, c collection) {
	idem, err := idempotencyFor(r)
	if err != nil {
		writeError(w, err)
		return
	}
	body, err := readBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	if idem != nil {
		idem.digest = requestDigest(r.Method, c.path, body)
		if s.replay(w, r, idem) {
			return
		}
	}
	v, err := c.decode(body)
	if err != nil {
		writeError(w, err)
		return
	}
	if c.serverKey {
		if v.key() != "" {
			writeError(w, api.FieldError(c.keyField, "is assigned by the server; leave it out of a create"))
			return
		}
		id, err := newID()
		if err != nil {
			writeError(w, err)
			return
		}
		v.setKey(id)
	}
	if err := s.validate(r.Context(), c, v); err != nil {
		writeError(w, err)
		return
	}
	value, err := v.stored()
	if err != nil {
		writeError(w, err)
		return
	}
	presented, err := marshalJSON(v.presented())
	if err != nil {
		writeError(w, err)
		return
	}
	location := c.path + "/" + v.key()
	ops := []store.Op{{Kind: c.kind, Key: v.key(), Value: value, Cond: store.Cond{MustNotExist: true}}}
	if idem != nil {
		// The key's record commits with the object, so a create is never stored without it.
		op, err := idem.op(http.StatusCreated, location, presented)
		if err != nil {
			writeError(w, err)
			return
		}
		ops = append(ops, op)
	}
	res, err := s.cfg.Store.Txn(r.Context(), ops, actor(r.Context()))
	if err != nil {
		var ce *store.CondError
		// Another request with the same key committed first: its answer is ours.
		if errors.As(err, &ce) && idem != nil && s.replay(w, r, idem) {
			return
		}
		if errors.Is(err, store.ErrExists) {
			writeError(w, &api.Error{Status: http.StatusConflict, Code: api.CodeConflict, Field: c.keyField,
				Message: fmt.Sprintf("%s %q already exists; import it or change it with PUT %s/%s", c.noun, v.key(), c.path, v.key())})
			return
		}
		writeError(w, err)
		return
	}
	rev := res.Objects[0].ModRevision
	s.awaitLive(w, r, rev)
	setRevision(w, rev)
	w.Header().Set(api.HeaderETag, etag(rev))
	w.Header().Set("Location", location)
	writeRawJSON(w, http.StatusCreated, presented)
}

func (s *Server) replace(w http.ResponseWriter, r *http.Request, c collection, key string) {
	cond, _, err := ifMatch(r)
	if err != nil {
		writeError(w, err)
		return
	}
	cond.MustExist = true
	body, err := readBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	v, err := c.decode(body)
	if err != nil {
		writeError(w, err)
		return
	}
	switch v.key() {
	case "":
		v.setKey(key)
	case key:
	default:
		writeError(w, api.FieldError(c.keyField, "%q does not match the %q in the path; the key of a %s cannot change (create a new one instead)", v.key(), key, c.noun))
		return
	}
	if err := s.validate(r.Context(), c, v); err != nil {
		writeError(w, err)
		return
	}
	value, err := v.stored()
	if err != nil {
		writeError(w, err)
		return
	}
	o, err := s.cfg.Store.Put(r.Context(), c.kind, key, value, cond, actor(r.Context()))
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, s.notFound(c, key))
		return
	}
	if err != nil {
		writeError(w, err)
		return
	}
	s.awaitLive(w, r, o.ModRevision)
	setRevision(w, o.ModRevision)
	w.Header().Set(api.HeaderETag, etag(o.ModRevision))
	writeJSON(w, http.StatusOK, v.presented())
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request, c collection, key string) {
	cond, _, err := ifMatch(r)
	if err != nil {
		writeError(w, err)
		return
	}
	if c.deletable != nil {
		if err := c.deletable(r.Context(), s, key); err != nil {
			writeError(w, err)
			return
		}
	}
	rev, err := s.cfg.Store.Delete(r.Context(), c.kind, key, cond, actor(r.Context()))
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, s.notFound(c, key))
		return
	}
	if err != nil {
		writeError(w, err)
		return
	}
	s.awaitLive(w, r, rev)
	setRevision(w, rev)
	w.WriteHeader(http.StatusNoContent)
}

// validate checks an object on its own, then against the node and the configuration.
func (s *Server) validate(ctx context.Context, c collection, v object) error {
	if err := v.validate(); err != nil {
		return err
	}
	if c.check != nil {
		return c.check(ctx, s, v)
	}
	return nil
}

// newID returns a static route id: 12 hex digits, random, so that ids from different nodes of a
// cluster never collide in practice and say nothing about creation order.
func newID() (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}
