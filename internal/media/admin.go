package media

import (
	"context"
	"errors"
	"net/http"

	"chappe.eu/chappe/internal/clientapi"
	"chappe.eu/chappe/internal/httpapi"
	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/store"
)

// The media admin API follows Synapse's (docs/admin_api/media_admin_api),
// so that its tools work: quarantine, unquarantine, delete, query.

// adminLocalMediaID is localMediaID for the admin API, which answers
// remote media with 400 as Synapse does.
func (r *Repo) adminLocalMediaID(req *http.Request) (string, error) {
	if req.PathValue("serverName") != r.serverName {
		return "", matrix.InvalidParam("Can only act on local media")
	}
	return r.localMediaID(req)
}

// adminQuarantine answers POST /_synapse/admin/v1/media/quarantine/{serverName}/{mediaId}.
func (r *Repo) adminQuarantine(w http.ResponseWriter, req *http.Request, s *clientapi.Session) error {
	id, err := r.adminLocalMediaID(req)
	if err != nil {
		return err
	}
	if err := r.db.QuarantineMedia(req.Context(), id, s.UserID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	r.log.Info("media: quarantined", "media_id", id, "by", s.UserID)
	return httpapi.WriteJSON(w, http.StatusOK, struct{}{})
}

// adminUnquarantine answers POST /_synapse/admin/v1/media/unquarantine/{serverName}/{mediaId}.
func (r *Repo) adminUnquarantine(w http.ResponseWriter, req *http.Request, s *clientapi.Session) error {
	id, err := r.adminLocalMediaID(req)
	if err != nil {
		return err
	}
	if err := r.db.QuarantineMedia(req.Context(), id, ""); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, struct{}{})
}

// adminDelete answers DELETE /_synapse/admin/v1/media/{serverName}/{mediaId}.
func (r *Repo) adminDelete(w http.ResponseWriter, req *http.Request, s *clientapi.Session) error {
	id, err := r.adminLocalMediaID(req)
	if err != nil {
		return err
	}
	deleted, err := r.deleteMedia(req.Context(), []string{id})
	if err != nil {
		return err
	}
	if len(deleted) == 0 {
		return errNotFound
	}
	r.log.Info("media: deleted", "media_id", id, "by", s.UserID)
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"deleted_media": deleted, "total": len(deleted)})
}

// adminMediaInfo answers GET /_synapse/admin/v1/media/{serverName}/{mediaId}.
func (r *Repo) adminMediaInfo(w http.ResponseWriter, req *http.Request, s *clientapi.Session) error {
	id, err := r.adminLocalMediaID(req)
	if err != nil {
		return err
	}
	m, err := r.db.MediaByID(req.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	info := map[string]any{
		"media_origin":         r.serverName,
		"media_id":             m.MediaID,
		"user_id":              nilIfEmpty(m.UserID),
		"media_type":           m.ContentType,
		"media_length":         m.Size,
		"upload_name":          m.UploadName,
		"created_ts":           m.CreatedTS,
		"quarantined_by":       nilIfEmpty(m.QuarantinedBy),
		"safe_from_quarantine": false,
		"authenticated":        m.Authenticated,
		"sha256":               m.SHA256,
		"infected":             nilIfEmpty(m.Infected),
	}
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"media_info": info})
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// deleteMedia deletes media items, their thumbnails and the content no
// other item refers to.
func (r *Repo) deleteMedia(ctx context.Context, ids []string) ([]string, error) {
	return r.db.DeleteMedia(ctx, ids, func(sha256 string) error {
		h, err := ParseHash(sha256)
		if err != nil {
			return err
		}
		return r.blobs.Delete(ctx, h)
	})
}

// PurgeMediaOfEvent deletes the local media an event referred to, for
// the rooms code to call when it redacts an event (its content's url,
// info.thumbnail_url and the like). URIs of other servers and malformed
// ones are ignored; content that other media items share stays.
func (r *Repo) PurgeMediaOfEvent(ctx context.Context, mxcURIs []string) error {
	var ids []string
	for _, u := range mxcURIs {
		if id, ok := r.parseMXC(u); ok {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	deleted, err := r.deleteMedia(ctx, ids)
	if err == nil && len(deleted) > 0 {
		r.log.Info("media: purged the media of a redacted event", "media_ids", deleted)
	}
	return err
}
