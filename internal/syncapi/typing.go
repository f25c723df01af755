package syncapi

import "context"

// m.typing in each joined room's ephemeral events ("Typing
// Notifications"). The typing part of the token is the tracker's serial,
// read before any room (sync.go), so a change racing with this /sync is
// sent again next time rather than lost; m.typing replaces what the client
// knew, so a repeat is harmless.

func init() { roomSections = append(roomSections, (*API).typingSection) }

func (a *API) typingSection(ctx context.Context, req *request, roomID string, jr *joinedRoom) (bool, error) {
	if !req.filter.Room.Ephemeral.MatchEvent(roomID, "m.typing", "", nil) {
		return false, nil
	}
	users, changed := a.typing.Room(roomID)
	since := req.sinceTok.Typing
	switch {
	case req.sinceTok == Token{} || req.fullState:
		// The client knows nothing: tell it only if someone is typing.
		if len(users) == 0 {
			return false, nil
		}
	case since < a.typing.Epoch() || since > req.next.Typing:
		// A token of an earlier run of the server: whoever it said was
		// typing is not any more, so every room gets its list, empty or
		// not, once.
	case changed <= since:
		return false, nil
	}
	users, err := a.typists(ctx, req, roomID, users)
	if err != nil {
		return false, err
	}
	jr.Ephemeral.Events = append(jr.Ephemeral.Events, map[string]any{
		"type": "m.typing", "content": map[string]any{"user_ids": users},
	})
	return true, nil
}

// typists keeps the typing users who are still joined (one who leaves
// while typing is not typing there any more) and not ignored by the
// viewer.
func (a *API) typists(ctx context.Context, req *request, roomID string, users []string) ([]string, error) {
	out := []string{}
	if len(users) == 0 {
		return out, nil
	}
	joined, err := a.db.JoinedAmong(ctx, roomID, users)
	if err != nil {
		return nil, err
	}
	for _, u := range users {
		if joined[u] && !req.ignored[u] {
			out = append(out, u)
		}
	}
	return out, nil
}

// typingChanged reports whether the room's typing list may have changed
// since the token, by the same rules as typingSection.
func (a *API) typingChanged(req *request, roomID string) bool {
	_, changed := a.typing.Room(roomID)
	since := req.sinceTok.Typing
	return since < a.typing.Epoch() || since > req.next.Typing || changed > since
}
