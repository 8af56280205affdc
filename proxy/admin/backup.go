package admin

import (
	"fmt"
	"github.com/sipfed/terraform-provider-sip/proxy/telemetry"
	"net/http"
	"strconv"
	"time"

	"github.com/sipfed/terraform-provider-sip/internal/api"
	"github.com/sipfed/terraform-provider-sip/proxy/store"
)

// pathBackup streams a copy of the store. A running proxy holds its store file locked, so this is
// how `sipfed-proxy store backup` gets a consistent copy without stopping it.
const pathBackup = "/v1/backup"

// backupWriteTimeout bounds one backup download. It is set on the response itself, so a server
// write timeout sized for JSON answers does not cut a large store short.
const backupWriteTimeout = 10 * time.Minute

func (s *Server) backup(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeError(w, errMethod(http.MethodGet))
		return
	}
	b, ok := s.cfg.Store.(store.Backuper)
	if !ok {
		writeError(w, &api.Error{Status: http.StatusNotFound, Code: api.CodeNotFound,
			Message: "this proxy's store is not a file it can copy; back up the cluster store with its own tools (etcdctl snapshot save)"})
		return
	}
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(backupWriteTimeout))
	start, started := time.Now(), false
	var revision uint64
	n, err := b.Backup(r.Context(), w, func(size int64, rev uint64) {
		revision, started = rev, true
		h := w.Header()
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Content-Length", strconv.FormatInt(size, 10))
		h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="sipfed-r%d.db"`, rev))
		setRevision(w, rev)
		w.WriteHeader(http.StatusOK)
	})
	switch {
	case err != nil && !started:
		writeError(w, err)
	case err != nil:
		// The status is sent: the body falls short of its Content-Length, so the client sees a
		// broken download, never a short file that looks whole.
		s.cfg.Log.Warn("store backup broken off", telemetry.KeyActor, actor(r.Context()), telemetry.KeyRevision, revision, telemetry.KeyBytes, n, telemetry.KeyError, err)
	default:
		s.cfg.Log.Info("store backup served", telemetry.KeyActor, actor(r.Context()), telemetry.KeyRevision, revision, telemetry.KeyBytes, n, telemetry.KeyDuration, time.Since(start))
	}
}

// Unwrap lets http.ResponseController reach the connection under the recorder, for the backup's
// write deadline.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
