package rooms

import (
	"context"
	"encoding/json"
	"strings"

	"chappe.eu/chappe/internal/push"
	"chappe.eu/chappe/internal/room/auth"
	"chappe.eu/chappe/internal/room/event"
	"chappe.eu/chappe/internal/store"
)

// pushOutcome evaluates the push rules of the room's local members for a
// new local event that b has built and checked, before it is stored: the
// outcome is written in the event's own transaction (store.PushOutcome),
// so counts and the event appear in the same /sync.
func (s *Service) pushOutcome(ctx context.Context, b *builder, ne *store.NewEvent) (*store.PushOutcome, error) {
	ev, err := push.ParseEvent(ne.PDU)
	if err != nil {
		return nil, err
	}
	ev.RoomID = ne.RoomID // a v12 create event has no room_id of its own
	thread, err := s.threadOf(ctx, ne.RelType, ne.RelatesTo)
	if err != nil {
		return nil, err
	}
	// b.state holds the auth state of the event, which always includes the
	// create and power levels events (but for the create event itself).
	pl, _ := auth.ParsePowerLevels(b.state[event.StateKeyTuple{Type: "m.room.create"}],
		b.state[event.StateKeyTuple{Type: "m.room.power_levels"}])
	in := push.Input{
		Event:   ev,
		Sender:  ne.Sender,
		IsState: ne.StateKey != nil,
		Room: push.RoomContext{
			SenderLevel: pl.UserLevel(ne.Sender),
			NotificationLevel: func(key string) int64 {
				if l, ok := pl.NotificationLevel(key); ok {
					return l
				}
				return 50 // Synapse's level for keys the power levels do not name
			},
		},
		DisplayName: func(ctx context.Context, userID string) (string, error) {
			return s.displayName(ctx, ne.RoomID, userID)
		},
	}
	if ne.Type == "m.room.member" && ne.Membership == "invite" && ne.StateKey != nil {
		in.Invitee = *ne.StateKey
	}
	actions, err := s.push.Evaluate(ctx, in)
	if err != nil {
		return nil, err
	}
	return &store.PushOutcome{ThreadID: thread, Actions: actions,
		SenderRead: strings.HasSuffix(ne.Sender, ":"+string(s.server))}, nil
}

// maxThreadHops bounds how far threadOf follows relations, as the spec
// recommends ("a maximum of 3 hops").
const maxThreadHops = 3

// threadOf returns the thread of an event with the given relation: the
// root of the m.thread relation found by following relations, or "main".
func (s *Service) threadOf(ctx context.Context, relType, relatesTo string) (string, error) {
	for hop := 0; relatesTo != ""; hop++ {
		if relType == "m.thread" {
			return relatesTo, nil
		}
		if hop == maxThreadHops {
			break
		}
		rt, to, err := s.db.EventRelation(ctx, relatesTo)
		if err == store.ErrNotFound {
			break
		}
		if err != nil {
			return "", err
		}
		relType, relatesTo = rt, to
	}
	return "main", nil
}

// ThreadOf returns the thread a stored event is in: the root's event ID,
// or "main" for the main timeline (which holds thread roots themselves).
func (s *Service) ThreadOf(ctx context.Context, eventID string) (string, error) {
	rt, to, err := s.db.EventRelation(ctx, eventID)
	if err != nil {
		return "", err
	}
	return s.threadOf(ctx, rt, to)
}

// displayName is the user's display name in the room now.
func (s *Service) displayName(ctx context.Context, roomID, userID string) (string, error) {
	ids, err := s.db.CurrentStateIDs(ctx, roomID, [][2]string{{"m.room.member", userID}})
	if err != nil {
		return "", err
	}
	id, ok := ids[[2]string{"m.room.member", userID}]
	if !ok {
		return "", nil
	}
	evs, err := s.Events(ctx, []string{id})
	if err != nil || evs[id] == nil {
		return "", err
	}
	var c struct {
		DisplayName string `json:"displayname"`
	}
	_ = json.Unmarshal(evs[id].Content(), &c)
	return c.DisplayName, nil
}
