package syncapi

import (
	"context"

	"chappe.eu/chappe/internal/store"
)

// Account data in /sync ("Client Config"): the global entries in the
// top-level account_data, each joined room's in its own. Entries carry
// positions of the global stream, so a sync returns those changed in
// (since, upto], each once: a change moves the entry to its new position.

func init() {
	globalSections = append(globalSections, (*API).accountDataSection)
	roomSections = append(roomSections, (*API).roomAccountDataSection)
}

func (a *API) accountDataSection(ctx context.Context, req *request, resp *response) (bool, error) {
	for _, d := range req.accountData[""] {
		if req.filter.AccountData.Match(d.Type, "") {
			resp.AccountData.Events = append(resp.AccountData.Events, accountDataEvent(d))
		}
	}
	return len(resp.AccountData.Events) > 0, nil
}

func (a *API) roomAccountDataSection(ctx context.Context, req *request, roomID string, jr *joinedRoom) (bool, error) {
	n := len(jr.AccountData.Events)
	jr.AccountData.Events = a.roomAccountData(req, roomID, jr.AccountData.Events)
	return len(jr.AccountData.Events) > n, nil
}

// roomAccountData appends the room's account data changed in the
// response's range that the filter lets through to evs. Left rooms carry
// it too.
func (a *API) roomAccountData(req *request, roomID string, evs []any) []any {
	for _, d := range req.accountData[roomID] {
		if req.filter.Room.AccountData.MatchEvent(roomID, d.Type, "", nil) {
			evs = append(evs, accountDataEvent(d))
		}
	}
	return evs
}

// accountDataByRoom is account data by room, "" for global.
type accountDataByRoom = map[string][]store.AccountData

// loadUserData reads, for one build of a response, the user's ignore list
// and their account data changed in (since, upto] (all of it for an
// initial or full_state sync), by room ("" for global): one query each,
// rather than one a joined room.
func (a *API) loadUserData(ctx context.Context, req *request) error {
	var err error
	if req.ignored, err = a.db.IgnoredUsers(ctx, req.userID); err != nil {
		return err
	}
	from := req.since
	if req.fullState {
		from = 0
	}
	req.accountData = accountDataByRoom{}
	if !a.db.AccountDataChangedSince(req.userID, from) {
		return nil // store/changes.go
	}
	list, err := a.db.AccountDataSince(ctx, req.userID, from, req.upto)
	if err != nil {
		return err
	}
	for _, d := range list {
		req.accountData[d.RoomID] = append(req.accountData[d.RoomID], d)
	}
	return nil
}

func accountDataEvent(d store.AccountData) map[string]any {
	return map[string]any{"type": d.Type, "content": d.Content}
}

// Ignored users ("Ignoring Users"): their events are hidden from the
// timeline (except state events; clientapi.HiddenByIgnore) and their
// invites dropped. The list is read for each build of a response, so a
// change applies at once.

// hiddenInvite reports whether the user's current membership m is an
// invite from someone they ignore, which the spec says must not reach
// them.
func (a *API) hiddenInvite(ctx context.Context, req *request, m store.RoomMembership) (bool, error) {
	if m.Membership != "invite" || len(req.ignored) == 0 {
		return false, nil
	}
	evs, err := a.rooms.Events(ctx, []string{m.EventID})
	if err != nil {
		return false, err
	}
	e := evs[m.EventID]
	return e != nil && req.ignored[e.Sender()], nil
}
