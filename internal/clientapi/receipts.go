package clientapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"chappe.eu/chappe/internal/httpapi"
	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/rooms"
	"chappe.eu/chappe/internal/store"
)

// Receipts ("Receipts") and read markers ("Read and unread markers").
//
// m.read and m.read.private receipts move the user's read mark, which
// clears their notification counts up to the event; m.read is shown to
// every member in /sync's ephemeral m.receipt, m.read.private only to its
// owner. m.fully_read is the m.fully_read room account data, which only
// these endpoints may set.

const mainThread = "main"

// joinedView returns the user's view of a room they are joined to; a room
// they are not joined to answers like an unknown room.
func (a *API) joinedView(ctx context.Context, roomID, userID string) (*rooms.Visibility, error) {
	vis, _, err := a.roomView(ctx, roomID, userID)
	if err != nil {
		return nil, err
	}
	if m, _ := vis.Membership(); m != "join" {
		return nil, errNotInRoom
	}
	return vis, nil
}

// receiptTarget returns the event a receipt or marker points at: an event
// of the room the user may see, else 404.
func (a *API) receiptTarget(ctx context.Context, vis *rooms.Visibility, roomID, eventID string) (*rooms.Stored, error) {
	notFound := matrix.NotFound("Event not found")
	if _, err := matrix.ParseEventID(eventID); err != nil || !storable(eventID) {
		return nil, notFound
	}
	evs, err := a.rooms.Events(ctx, []string{eventID})
	if err != nil {
		return nil, err
	}
	e := evs[eventID]
	if e == nil || e.RoomID() != roomID || !vis.CanSee(e) {
		return nil, notFound
	}
	return e, nil
}

func (a *API) postReceipt(w http.ResponseWriter, r *http.Request, s *Session) error {
	roomID, err := pathRoomID(r)
	if err != nil {
		return err
	}
	typ := r.PathValue("receiptType")
	switch typ {
	case "m.read", "m.read.private", "m.fully_read":
	default:
		return matrix.InvalidParam("Receipt type must be m.read, m.read.private or m.fully_read")
	}
	var body struct {
		ThreadID json.RawMessage `json:"thread_id"`
	}
	if err := a.readJSON(r, &body); err != nil {
		return err
	}
	thread := ""
	if len(body.ThreadID) > 0 {
		if json.Unmarshal(body.ThreadID, &thread) != nil || thread == "" {
			return matrix.InvalidParam("thread_id field must be a non-empty string")
		}
		if typ == "m.fully_read" {
			return matrix.InvalidParam("thread_id is not allowed for m.fully_read")
		}
	}
	ctx := r.Context()
	vis, err := a.joinedView(ctx, roomID, s.UserID)
	if err != nil {
		return err
	}
	target, err := a.receiptTarget(ctx, vis, roomID, r.PathValue("eventId"))
	if err != nil {
		return err
	}
	if typ == "m.fully_read" {
		err = a.setFullyRead(ctx, s.UserID, roomID, target)
	} else {
		if thread != "" {
			if err := a.checkReceiptThread(ctx, target.EventID(), thread); err != nil {
				return err
			}
		}
		err = a.setReceipt(ctx, s.UserID, roomID, typ, thread, target)
	}
	if err != nil {
		return err
	}
	return httpapi.WriteJSON(w, http.StatusOK, struct{}{})
}

// checkReceiptThread refuses a threaded receipt for an event outside the
// thread. The spec gives 400 for "The event_id is not related to the
// thread_id"; what related means is Synapse's: for main, the event is in
// the main timeline (thread roots are); for a thread, the event is its
// root or in it.
func (a *API) checkReceiptThread(ctx context.Context, eventID, thread string) error {
	if thread == eventID {
		return nil
	}
	got, err := a.rooms.ThreadOf(ctx, eventID)
	if err != nil {
		return err
	}
	if got != thread {
		return matrix.InvalidParam("event_id is not related to thread_id")
	}
	return nil
}

// setReceipt stores an m.read or m.read.private receipt and wakes who may
// see it: the room's members for m.read, the user alone for the private one.
func (a *API) setReceipt(ctx context.Context, userID, roomID, typ, thread string, target *rooms.Stored) error {
	pos, err := a.db.SetReceipt(ctx, store.Receipt{RoomID: roomID, Type: typ, UserID: userID, ThreadID: thread,
		EventID: target.EventID(), EventPos: target.StreamPos, TS: time.Now().UnixMilli()})
	if err != nil || pos == 0 {
		return err
	}
	if typ == "m.read" {
		a.notify.NotifyRoom(pos, roomID)
	} else {
		a.notify.NotifyUser(pos, userID)
	}
	return nil
}

// setFullyRead moves the m.fully_read room account data to target. Like
// Synapse, the marker only moves forward: an older event leaves it.
//
// The current marker's event is looked up before the transaction, not in
// it: on PostgreSQL reads and writes share one pool, and a transaction
// waiting for a second connection could starve it. The update then applies
// only if the marker is still the one looked at, and retries otherwise.
func (a *API) setFullyRead(ctx context.Context, userID, roomID string, target *rooms.Stored) error {
	for range 3 {
		cur, err := a.db.AccountDataOf(ctx, userID, roomID, "m.fully_read")
		if err != nil && err != store.ErrNotFound {
			return err
		}
		var marker struct {
			EventID string `json:"event_id"`
		}
		if cur != nil && json.Unmarshal(cur, &marker) == nil && marker.EventID != "" {
			evs, err := a.rooms.Events(ctx, []string{marker.EventID})
			if err != nil {
				return err
			}
			if e := evs[marker.EventID]; e != nil && e.StreamPos >= target.StreamPos {
				return nil // not ahead of the current marker
			}
		}
		raced := false
		pos, err := a.db.UpdateAccountData(ctx, userID, roomID, "m.fully_read", func(old json.RawMessage) (json.RawMessage, error) {
			if string(old) != string(cur) {
				raced = true
				return nil, nil
			}
			return json.Marshal(map[string]string{"event_id": target.EventID()})
		})
		if err != nil {
			return err
		}
		if raced {
			continue
		}
		a.notify.NotifyUser(pos, userID)
		return nil
	}
	return nil // three concurrent moves in a row: the last one stands
}

func (a *API) postReadMarkers(w http.ResponseWriter, r *http.Request, s *Session) error {
	roomID, err := pathRoomID(r)
	if err != nil {
		return err
	}
	var body map[string]json.RawMessage
	if err := a.readJSON(r, &body); err != nil {
		return err
	}
	ctx := r.Context()
	vis, err := a.joinedView(ctx, roomID, s.UserID)
	if err != nil {
		return err
	}
	// Check every marker before setting any. Like Synapse, absent, null and
	// empty markers are skipped and other keys ignored.
	targets := map[string]*rooms.Stored{}
	for _, typ := range []string{"m.fully_read", "m.read", "m.read.private"} {
		raw, ok := body[typ]
		if !ok || string(raw) == "null" {
			continue
		}
		var id string
		if json.Unmarshal(raw, &id) != nil {
			return matrix.InvalidParam("%s must be an event ID", typ)
		}
		if id == "" {
			continue
		}
		if targets[typ], err = a.receiptTarget(ctx, vis, roomID, id); err != nil {
			return err
		}
	}
	if t := targets["m.fully_read"]; t != nil {
		if err := a.setFullyRead(ctx, s.UserID, roomID, t); err != nil {
			return err
		}
	}
	for _, typ := range []string{"m.read", "m.read.private"} {
		if t := targets[typ]; t != nil {
			if err := a.setReceipt(ctx, s.UserID, roomID, typ, "", t); err != nil {
				return err
			}
		}
	}
	return httpapi.WriteJSON(w, http.StatusOK, struct{}{})
}
