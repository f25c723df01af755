package media

import (
	"encoding/json"
	"net/http"
	"strings"

	"chappe.eu/chappe/internal/clientapi"
	"chappe.eu/chappe/internal/httpapi"
	"chappe.eu/chappe/internal/matrix"
)

// adminPurgeEventMedia answers POST
// /_chappe/admin/v1/rooms/{roomId}/events/{eventId}/purge_media: it deletes
// the local media that a redacted event pointed to (its url, thumbnail_url
// and encrypted file URLs, wherever they are in the content). Redaction
// hides an event's content from clients but leaves its files downloadable
// by anyone who kept the link; an operator removing illegal or leaked
// content needs the files gone too. Only redacted events qualify, so that
// the endpoint cannot break a visible message.
func (r *Repo) adminPurgeEventMedia(w http.ResponseWriter, req *http.Request, s *clientapi.Session) error {
	notFound := matrix.NotFound("No such event")
	roomID, eventID := req.PathValue("roomId"), req.PathValue("eventId")
	if _, err := matrix.ParseEventID(eventID); err != nil {
		return notFound
	}
	evs, err := r.db.EventsByID(req.Context(), []string{eventID})
	if err != nil {
		return err
	}
	if len(evs) != 1 || evs[0].RoomID != roomID {
		return notFound
	}
	if evs[0].RedactedBy == "" {
		return matrix.Errorf(http.StatusBadRequest, matrix.ErrUnknown, "The event is not redacted: redact it first")
	}
	var pdu struct {
		Content json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(evs[0].PDU, &pdu); err != nil {
		return err
	}
	uris := mxcURIsIn(pdu.Content)
	if err := r.PurgeMediaOfEvent(req.Context(), uris); err != nil {
		return err
	}
	r.log.Info("media: purged the media of a redacted event", "event_id", eventID, "by", s.UserID)
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"purged": uris})
}

// mxcURIsIn returns every mxc:// string anywhere in a JSON value.
func mxcURIsIn(raw json.RawMessage) []string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return nil
	}
	uris := []string{}
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			if strings.HasPrefix(x, "mxc://") {
				uris = append(uris, x)
			}
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return uris
}
