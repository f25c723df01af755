package rooms

import (
	"context"
	"encoding/json"
	"sort"

	"chappe.eu/chappe/internal/store"
)

// Visibility decides which events of one room one user may see, by the
// spec's history visibility rules ("Room History Visibility", server
// behaviour), evaluated with the state at each event.
type Visibility struct {
	userID      string
	memberships []store.Membership // the user's membership events, oldest first
	visEvents   []visChange        // m.room.history_visibility changes, oldest first
}

type visChange struct {
	pos     int64
	eventID string
	value   string
}

// Visibility loads what is needed to judge the user's view of the room.
func (s *Service) Visibility(ctx context.Context, roomID, userID string) (*Visibility, error) {
	ms, err := s.db.MembershipHistory(ctx, roomID, userID)
	if err != nil {
		return nil, err
	}
	hist, err := s.db.StateHistory(ctx, roomID, "m.room.history_visibility", "")
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(hist))
	for i, h := range hist {
		ids[i] = h.EventID
	}
	evs, err := s.Events(ctx, ids)
	if err != nil {
		return nil, err
	}
	v := &Visibility{userID: userID, memberships: ms}
	for _, h := range hist {
		val := "shared"
		if e := evs[h.EventID]; e != nil {
			var c struct {
				HistoryVisibility string `json:"history_visibility"`
			}
			if json.Unmarshal(e.Content(), &c) == nil {
				switch c.HistoryVisibility {
				case "world_readable", "shared", "invited", "joined":
					val = c.HistoryVisibility
				}
			}
		}
		v.visEvents = append(v.visEvents, visChange{pos: h.Pos, eventID: h.EventID, value: val})
	}
	return v, nil
}

// membershipBefore is the user's membership just before position pos.
func (v *Visibility) membershipBefore(pos int64) string {
	i := sort.Search(len(v.memberships), func(i int) bool { return v.memberships[i].Pos >= pos })
	if i == 0 {
		return "leave"
	}
	return v.memberships[i-1].Membership
}

// membershipAfter is the user's membership just after position pos.
func (v *Visibility) membershipAfter(pos int64) string { return v.membershipBefore(pos + 1) }

func (v *Visibility) visibilityBefore(pos int64) string {
	i := sort.Search(len(v.visEvents), func(i int) bool { return v.visEvents[i].pos >= pos })
	if i == 0 {
		return "shared" // spec: the default when no history_visibility is set
	}
	return v.visEvents[i-1].value
}

// joinedAfter reports whether the user joined at any point after pos.
func (v *Visibility) joinedAfter(pos int64) bool {
	for _, m := range v.memberships {
		if m.Pos > pos && m.Membership == "join" {
			return true
		}
	}
	return false
}

// allowed applies rules 1–5 for one history visibility and membership.
func (v *Visibility) allowed(pos int64, visibility, membership string) bool {
	switch {
	case visibility == "world_readable":
		return true
	case membership == "join":
		return true
	case visibility == "shared" && v.joinedAfter(pos):
		return true
	case membership == "invite" && visibility == "invited":
		return true
	}
	return false
}

// CanSee reports whether the user may see the event at pos. For
// m.room.history_visibility events and the user's own membership events,
// the state before or after the event may allow it, as the spec says.
func (v *Visibility) CanSee(e *Stored) bool {
	pos := e.StreamPos
	visBefore, memBefore := v.visibilityBefore(pos), v.membershipBefore(pos)
	if v.allowed(pos, visBefore, memBefore) {
		return true
	}
	visAfter, memAfter := visBefore, memBefore
	if e.Type() == "m.room.history_visibility" && e.StateKey() != nil && *e.StateKey() == "" {
		visAfter = v.visibilityBefore(pos + 1)
	}
	if e.Type() == "m.room.member" && e.StateKey() != nil && *e.StateKey() == v.userID {
		memAfter = v.membershipAfter(pos)
	}
	return v.allowed(pos, visAfter, memAfter)
}

// Filter returns the events the user may see, in the same order.
func (v *Visibility) Filter(evs []*Stored) []*Stored {
	out := evs[:0:0]
	for _, e := range evs {
		if v.CanSee(e) {
			out = append(out, e)
		}
	}
	return out
}

// Membership returns the user's current membership ("leave" if none) and
// the position it took effect.
func (v *Visibility) Membership() (string, int64) {
	if len(v.memberships) == 0 {
		return "leave", 0
	}
	m := v.memberships[len(v.memberships)-1]
	return m.Membership, m.Pos
}

// CanSeeRoomAt reports whether the user could see the room's state at pos:
// whether an event at pos would be visible to them. /state, /members and
// the like use it: a user who left sees the room as of their leave.
func (v *Visibility) CanSeeRoomAt(pos int64) bool {
	return v.allowed(pos, v.visibilityBefore(pos+1), v.membershipAfter(pos))
}

// MembershipAt returns the user's membership as of position pos (after
// the event at pos) and the position of the event that set it (0, "leave"
// if none).
func (v *Visibility) MembershipAt(pos int64) (string, int64) {
	i := sort.Search(len(v.memberships), func(i int) bool { return v.memberships[i].Pos > pos })
	if i == 0 {
		return "leave", 0
	}
	m := v.memberships[i-1]
	return m.Membership, m.Pos
}

// HasMemberships reports whether the user ever had a membership here.
func (v *Visibility) HasMemberships() bool { return len(v.memberships) > 0 }
