package rooms

import (
	"context"
	"encoding/json"
	"time"

	"chappe.eu/chappe/internal/room/event"
)

// ClientEvent is an event in the client-server API's format ("Room
// Events": ClientEvent, without room_id where the context gives it).
type ClientEvent struct {
	Content        json.RawMessage `json:"content"`
	EventID        string          `json:"event_id"`
	OriginServerTS int64           `json:"origin_server_ts"`
	RoomID         string          `json:"room_id,omitempty"`
	Sender         string          `json:"sender"`
	StateKey       *string         `json:"state_key,omitempty"`
	Type           string          `json:"type"`
	Redacts        string          `json:"redacts,omitempty"`
	Unsigned       map[string]any  `json:"unsigned,omitempty"`
}

// Viewer is who an event is served to: transaction IDs are shown only to
// the device that sent the event.
type Viewer struct {
	UserID   string
	DeviceID string
}

// ClientEvents formats events for a viewer: redacted events are served
// redacted with unsigned.redacted_because, and the sending device sees
// its transaction ID. withRoomID keeps room_id (off in /sync's timeline).
func (s *Service) ClientEvents(ctx context.Context, evs []*Stored, viewer Viewer, withRoomID bool) ([]ClientEvent, error) {
	ids := make([]string, len(evs))
	for i, e := range evs {
		ids[i] = e.EventID()
	}
	redactedBy, err := s.db.RedactionsOf(ctx, ids)
	if err != nil {
		return nil, err
	}
	var redactions map[string]*Stored
	if len(redactedBy) > 0 {
		rids := make([]string, 0, len(redactedBy))
		for _, r := range redactedBy {
			rids = append(rids, r)
		}
		if redactions, err = s.Events(ctx, rids); err != nil {
			return nil, err
		}
	}
	now := time.Now().UnixMilli()
	out := make([]ClientEvent, len(evs))
	for i, e := range evs {
		ev := e.Event
		unsigned := map[string]any{"age": now - ev.OriginServerTS()}
		if rid, ok := redactedBy[ev.EventID()]; ok {
			ev = ev.Redact()
			if r := redactions[rid]; r != nil {
				unsigned["redacted_because"] = s.clientEvent(r, nil, now, true)
			}
		}
		if e.TxnID != "" && e.SenderDevice == viewer.DeviceID && ev.Sender() == viewer.UserID {
			unsigned["transaction_id"] = e.TxnID
		}
		out[i] = ClientEvent{
			Content: ev.Content(), EventID: ev.EventID(), OriginServerTS: ev.OriginServerTS(),
			Sender: ev.Sender(), StateKey: ev.StateKey(), Type: ev.Type(), Unsigned: unsigned,
		}
		if ev.Type() == "m.room.redaction" && ev.Redacts() != "" {
			out[i].Redacts = ev.Redacts() // clients before v1.11 read the top-level key
		}
		if withRoomID {
			out[i].RoomID = RoomIDOf(e.Event)
		}
	}
	if err := s.addServerUnsigned(ctx, evs, out, redactedBy, viewer, withRoomID); err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Service) clientEvent(e *Stored, unsigned map[string]any, now int64, withRoomID bool) ClientEvent {
	if unsigned == nil {
		unsigned = map[string]any{"age": now - e.OriginServerTS()}
	}
	c := ClientEvent{Content: e.Content(), EventID: e.EventID(), OriginServerTS: e.OriginServerTS(),
		Sender: e.Sender(), StateKey: e.StateKey(), Type: e.Type(), Unsigned: unsigned, Redacts: e.Redacts()}
	if withRoomID {
		c.RoomID = RoomIDOf(e.Event)
	}
	return c
}

// RoomIDOf is the event's room: a v12 m.room.create has no room_id of its
// own, but clients are told which room it created.
func RoomIDOf(e *event.Event) string {
	if id := e.RoomID(); id != "" {
		return id
	}
	return e.CreatedRoomID()
}
