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
	list, err := a.accountDataSince(ctx, req, "")
	if err != nil {
		return false, err
	}
	for _, d := range list {
		if req.filter.AccountData.Match(d.Type, "") {
			resp.AccountData.Events = append(resp.AccountData.Events, accountDataEvent(d))
		}
	}
	return len(resp.AccountData.Events) > 0, nil
}

func (a *API) roomAccountDataSection(ctx context.Context, req *request, roomID string, jr *joinedRoom) (bool, error) {
	list, err := a.accountDataSince(ctx, req, roomID)
	if err != nil {
		return false, err
	}
	added := false
	for _, d := range list {
		if req.filter.Room.AccountData.MatchEvent(roomID, d.Type, "", nil) {
			jr.AccountData.Events = append(jr.AccountData.Events, accountDataEvent(d))
			added = true
		}
	}
	return added, nil
}

func (a *API) accountDataSince(ctx context.Context, req *request, roomID string) ([]store.AccountData, error) {
	from := req.since
	if req.fullState {
		from = 0
	}
	return a.db.AccountDataSince(ctx, req.userID, roomID, from, req.upto)
}

func accountDataEvent(d store.AccountData) map[string]any {
	return map[string]any{"type": d.Type, "content": d.Content}
}

// Ignored users ("Ignoring Users"): their events are hidden from the
// timeline (except state events; clientapi.HiddenByIgnore) and their
// invites dropped. The list is read for each build of a response, so a
// change applies at once.

// loadIgnored reads the user's ignore list into req.
func (a *API) loadIgnored(ctx context.Context, req *request) error {
	var err error
	req.ignored, err = a.db.IgnoredUsers(ctx, req.userID)
	return err
}

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
