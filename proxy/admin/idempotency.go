package admin

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/store"
)

// Idempotency keys (IETF httpapi draft "The Idempotency-Key HTTP Header Field"): a create that
// carries a key stores, in the same transaction as the object, the key with a digest of the
// request and the answer. A repeat of the request with the key gets that answer again instead of
// a second object, however the first answer was lost; the key with another request gets 422.

const (
	// idempotencyKind is the side-record kind of the keys: committed with the object, not
	// configuration (no revision, audit entry or watch event of its own).
	idempotencyKind = "idempotency_key"
	// IdempotencyKeyTTL is how long a key is kept: a client retries for seconds, a Terraform
	// run is repeated within hours.
	IdempotencyKeyTTL       = 24 * time.Hour
	maxIdempotencyKeyLength = 255
)

// idempotency is a create's key, scoped to the token it came with.
type idempotency struct {
	// storeKey is the key's record in the store: a digest of the actor and the key, so that two
	// clients using the same key never meet, and a key's bytes never shape a store key.
	storeKey string
	digest   string
}

// idempotencyRecord is the stored first answer.
type idempotencyRecord struct {
	// Digest of the request: method, path and body.
	Digest   string          `json:"digest"`
	Status   int             `json:"status"`
	Location string          `json:"location"`
	Body     json.RawMessage `json:"body"`
}

// idempotencyFor reads a request's Idempotency-Key; nil without one.
func idempotencyFor(r *http.Request) (*idempotency, error) {
	raw := r.Header.Values(api.HeaderIdempotencyKey)
	if len(raw) == 0 {
		return nil, nil
	}
	if len(raw) > 1 {
		return nil, keyError("must appear once")
	}
	key, err := parseIdempotencyKey(raw[0])
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(actor(r.Context()) + "\x00" + key))
	return &idempotency{storeKey: hex.EncodeToString(sum[:])}, nil
}

// parseIdempotencyKey takes the draft's form, a structured-field string ("..."), and, for curl
// users, the same text unquoted: both name the same key.
func parseIdempotencyKey(h string) (string, error) {
	h = strings.TrimSpace(h)
	key := h
	if strings.HasPrefix(h, `"`) {
		if len(h) < 2 || !strings.HasSuffix(h, `"`) {
			return "", keyError("a quoted key must end with a quote")
		}
		var b strings.Builder
		inner := h[1 : len(h)-1]
		for i := 0; i < len(inner); i++ {
			c := inner[i]
			switch {
			case c == '\\' && i+1 < len(inner) && (inner[i+1] == '"' || inner[i+1] == '\\'):
				b.WriteByte(inner[i+1])
				i++
			case c == '\\' || c == '"':
				return "", keyError(`in a quoted key, " and \ must be escaped with \`)
			default:
				b.WriteByte(c)
			}
		}
		key = b.String()
	}
	if key == "" {
		return "", keyError("must not be empty")
	}
	if len(key) > maxIdempotencyKeyLength {
		return "", keyError(fmt.Sprintf("has %d characters, at most %d are allowed", len(key), maxIdempotencyKeyLength))
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return "", keyError("must be printable ASCII (a UUID is a good key)")
		}
	}
	return key, nil
}

func keyError(rule string) *api.Error {
	return &api.Error{Status: http.StatusBadRequest, Code: api.CodeInvalidHeader,
		Message: api.HeaderIdempotencyKey + " header: " + rule}
}

// requestDigest identifies a request for its key: the same key with another method, path or body
// is another request.
func requestDigest(method, path string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(method + " " + path + "\n"))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// op is the store op that records the key with the answer it gets. The answer's revision (its
// ETag) is not in the record: it is the revision the op commits at, which the store keeps as the
// record's ModRevision.
func (k *idempotency) op(status int, location string, body []byte) (store.Op, error) {
	v, err := marshalJSON(idempotencyRecord{Digest: k.digest, Status: status, Location: location, Body: body})
	if err != nil {
		return store.Op{}, err
	}
	return store.Op{Kind: idempotencyKind, Key: k.storeKey, Value: v, Side: true, TTL: IdempotencyKeyTTL,
		Cond: store.Cond{MustNotExist: true}}, nil
}

// replay answers a request whose key is already recorded: the first answer again, or 422 when the
// key was used for another request. It reports whether it answered.
func (s *Server) replay(w http.ResponseWriter, r *http.Request, k *idempotency) bool {
	o, err := s.cfg.Store.Get(r.Context(), idempotencyKind, k.storeKey)
	if errors.Is(err, store.ErrNotFound) {
		return false
	}
	if err != nil {
		writeError(w, err)
		return true
	}
	var rec idempotencyRecord
	if err := json.Unmarshal(o.Value, &rec); err != nil {
		writeError(w, fmt.Errorf("stored idempotency key: %w", err))
		return true
	}
	if rec.Digest != k.digest {
		writeError(w, &api.Error{Status: http.StatusUnprocessableEntity, Code: api.CodeIdempotencyKeyReused,
			Message: fmt.Sprintf("this %s was first used with another request (%s); use a new key for a new request",
				api.HeaderIdempotencyKey, rec.Location)})
		return true
	}
	// The replayed write may still be on its way into routing, as the first answer may have said.
	s.awaitLive(w, r, o.ModRevision)
	setRevision(w, o.ModRevision)
	w.Header().Set(api.HeaderETag, etag(o.ModRevision))
	w.Header().Set("Location", rec.Location)
	w.Header().Set(api.HeaderIdempotentReplayed, strconv.FormatBool(true))
	// The record holds the body compacted; answer it as the first answer ended, with a newline.
	writeRawJSON(w, rec.Status, append(bytes.TrimRight(rec.Body, "\n"), '\n'))
	return true
}
