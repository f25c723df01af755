package media

import (
	"context"
	"errors"
	"io/fs"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"chappe.eu/chappe/internal/clientapi"
	"chappe.eu/chappe/internal/httpapi"
	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/store"
)

// uploadReadTimeout replaces the listener's read timeout for an upload's
// body: 50 MB over a slow mobile link takes minutes.
const uploadReadTimeout = 30 * time.Minute

// upload answers POST /_matrix/media/v3/upload.
func (r *Repo) upload(w http.ResponseWriter, req *http.Request, s *clientapi.Session) error {
	if err := r.limit(r.limits.upload, req, s.UserID); err != nil {
		return err
	}
	meta, err := uploadMeta(req)
	if err != nil {
		return err
	}
	spool, err := r.receive(w, req, s.UserID)
	if err != nil {
		return err
	}
	defer spool.Close()
	m := store.Media{
		MediaID:       newMediaID(),
		UserID:        s.UserID,
		ContentType:   meta.contentType,
		UploadName:    meta.fileName,
		Size:          spool.Size(),
		SHA256:        spool.Hash().String(),
		CreatedTS:     time.Now().UnixMilli(),
		Authenticated: r.cfg.LegacyEndpoints != "open",
	}
	if err := r.db.InsertMedia(req.Context(), m, r.cfg.MaxUserBytes, r.putSpool(req.Context(), spool)); err != nil {
		return uploadErr(err)
	}
	r.recordScan(req.Context(), spool)
	return httpapi.WriteJSON(w, http.StatusOK, map[string]string{"content_uri": r.mxc(m.MediaID)})
}

// create answers POST /_matrix/media/v1/create.
func (r *Repo) create(w http.ResponseWriter, req *http.Request, s *clientapi.Session) error {
	if err := r.limit(r.limits.upload, req, s.UserID); err != nil {
		return err
	}
	now := time.Now()
	m := store.Media{
		MediaID:         newMediaID(),
		UserID:          s.UserID,
		CreatedTS:       now.UnixMilli(),
		UnusedExpiresTS: now.Add(r.cfg.UnusedExpiry).UnixMilli(),
		Authenticated:   r.cfg.LegacyEndpoints != "open",
	}
	err := r.db.CreatePendingMedia(req.Context(), m, r.cfg.MaxPendingUploads)
	if errors.Is(err, store.ErrPendingLimit) {
		return matrix.Errorf(http.StatusTooManyRequests, matrix.ErrLimitExceeded, "Too many pending uploads").
			With("retry_after_ms", 60_000)
	}
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{
		"content_uri":       r.mxc(m.MediaID),
		"unused_expires_at": m.UnusedExpiresTS,
	})
}

// uploadToCreated answers PUT /_matrix/media/v3/upload/{serverName}/{mediaId}.
func (r *Repo) uploadToCreated(w http.ResponseWriter, req *http.Request, s *clientapi.Session) error {
	if err := r.limit(r.limits.upload, req, s.UserID); err != nil {
		return err
	}
	id, err := r.localMediaID(req)
	if err != nil {
		return err
	}
	meta, err := uploadMeta(req)
	if err != nil {
		return err
	}
	// Refuse what can be refused before reading the body; the store checks
	// again when it commits.
	now := time.Now().UnixMilli()
	m, err := r.db.MediaByID(req.Context(), id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return uploadErr(store.ErrNotFound)
	case err != nil:
		return err
	case m.UserID != s.UserID:
		return uploadErr(store.ErrNotOwner)
	case !m.Pending():
		return uploadErr(store.ErrAlreadyUploaded)
	case m.UnusedExpiresTS <= now:
		return uploadErr(store.ErrNotFound)
	}
	spool, err := r.receive(w, req, s.UserID)
	if err != nil {
		return err
	}
	defer spool.Close()
	m = store.Media{
		MediaID:     id,
		UserID:      s.UserID,
		ContentType: meta.contentType,
		UploadName:  meta.fileName,
		Size:        spool.Size(),
		SHA256:      spool.Hash().String(),
	}
	err = r.db.CompletePendingMedia(req.Context(), m, time.Now().UnixMilli(), r.cfg.MaxUserBytes, r.putSpool(req.Context(), spool))
	if err != nil {
		return uploadErr(err)
	}
	r.recordScan(req.Context(), spool)
	r.notifyUploaded()
	return httpapi.WriteJSON(w, http.StatusOK, struct{}{})
}

func uploadErr(err error) error {
	switch {
	case errors.Is(err, store.ErrQuota):
		return matrix.Forbidden("Media quota exceeded")
	case errors.Is(err, store.ErrNotOwner):
		return matrix.Forbidden("This media ID was created by another user")
	case errors.Is(err, store.ErrAlreadyUploaded):
		return matrix.Errorf(http.StatusConflict, ErrCannotOverwriteMedia, "Media already uploaded")
	case errors.Is(err, store.ErrNotFound):
		return matrix.NotFound("Unknown or expired media ID")
	}
	return err
}

type uploadMetadata struct {
	contentType string
	fileName    *string
}

// uploadMeta reads the Content-Type header and the filename parameter.
// A missing or malformed type is stored as application/octet-stream.
func uploadMeta(req *http.Request) (uploadMetadata, error) {
	var meta uploadMetadata
	ct := strings.TrimSpace(req.Header.Get("Content-Type"))
	if _, _, err := mime.ParseMediaType(ct); err != nil || len(ct) > 255 {
		ct = "application/octet-stream"
	}
	meta.contentType = ct
	if q := req.URL.Query(); q.Has("filename") {
		name := q.Get("filename")
		if !utf8.ValidString(name) || len(name) > 255 || strings.ContainsAny(name, "\x00\r\n") {
			return meta, matrix.InvalidParam("filename must be valid UTF-8, without control characters, at most 255 bytes")
		}
		meta.fileName = &name
	}
	return meta, nil
}

// receive streams the request body into a spool: refused from the
// Content-Length when it announces too much, and cut off as soon as it
// goes past the limit when it does not. The content is scanned.
func (r *Repo) receive(w http.ResponseWriter, req *http.Request, userID string) (*Spool, error) {
	limit := r.cfg.MaxUploadBytes
	tooLarge := matrix.Errorf(http.StatusRequestEntityTooLarge, matrix.ErrTooLarge,
		"Upload is larger than %d bytes", limit)
	if req.ContentLength > limit {
		// Don't let net/http drain a body we refuse; close instead.
		w.Header().Set("Connection", "close")
		return nil, tooLarge
	}
	if q := r.cfg.MaxUserBytes; q > 0 && req.ContentLength > 0 {
		used, err := r.db.UserMediaBytes(req.Context(), userID)
		if err != nil {
			return nil, err
		}
		if used+req.ContentLength > q {
			w.Header().Set("Connection", "close")
			return nil, uploadErr(store.ErrQuota)
		}
	}
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(uploadReadTimeout))
	spool, err := newSpool(r.spoolDir)
	if err != nil {
		return nil, err
	}
	err = spool.Receive(req.Body, limit)
	if err == nil {
		err = spool.Finish()
	}
	if errors.Is(err, errTooLarge) {
		spool.Close()
		w.Header().Set("Connection", "close")
		return nil, tooLarge
	}
	if err != nil && isReadErr(err) {
		spool.Close()
		return nil, matrix.Errorf(http.StatusBadRequest, matrix.ErrUnknown, "Could not read the upload")
	}
	if err != nil {
		spool.Close()
		return nil, err
	}
	if err := r.scanSpool(req.Context(), spool); err != nil {
		spool.Close()
		return nil, err
	}
	return spool, nil
}

// isReadErr tells a client's broken upload from our own failure: writing
// the spool fails with a *fs.PathError (a full disk must be logged),
// reading the body with anything else.
func isReadErr(err error) bool {
	var pe *fs.PathError
	return !errors.As(err, &pe)
}

// putSpool stores a spool's content in the blob store (called by the
// store inside its transaction).
func (r *Repo) putSpool(ctx context.Context, s *Spool) store.PutBlobFunc {
	return func(string) error {
		if err := s.Rewind(); err != nil {
			return err
		}
		return r.blobs.Put(ctx, s.Hash(), s)
	}
}
