package syncapi

import (
	"context"
	"time"

	"chappe.eu/chappe/internal/presence"
	"chappe.eu/chappe/internal/store"
)

// Presence in /sync ("Presence"): the m.presence events of the user and of
// the users sharing a joined room with them. An initial (or full_state)
// sync gets everyone's current presence but offline, as in Synapse; an
// incremental one gets the changes in (since, upto] and the presence of
// those who came to share a room with the user then.

func init() { globalSections = append(globalSections, (*API).presenceSection) }

func (a *API) presenceSection(ctx context.Context, req *request, resp *response) (bool, error) {
	from := req.since
	if req.fullState {
		from = 0
	}
	// The change log (store/changes.go) spares a query of a quiet stream.
	var list []store.Presence
	var err error
	if a.db.PresenceChangedAfter(from) {
		if list, err = a.db.PresenceChangedSince(ctx, req.userID, from, req.upto); err != nil {
			return false, err
		}
	}
	if from > 0 && a.db.MembersChangedSince(from) {
		more, err := a.db.PresenceOfNewRoommates(ctx, req.userID, from, req.upto)
		if err != nil {
			return false, err
		}
		list = append(list, more...)
	}
	now := time.Now().UnixMilli()
	f := &req.filter.Presence
	limit := f.LimitOr(len(list))
	seen := map[string]bool{}
	for _, p := range list {
		if seen[p.UserID] || req.ignored[p.UserID] || !f.Match("m.presence", p.UserID) {
			continue
		}
		if len(resp.Presence.Events) >= limit {
			break
		}
		seen[p.UserID] = true
		resp.Presence.Events = append(resp.Presence.Events, presence.Event(p, now))
	}
	return len(resp.Presence.Events) > 0, nil
}

// userSyncing applies set_presence (online unless given) for a /sync that
// may wait up to timeout. Presence is not worth failing a /sync for: an
// error is logged.
func (a *API) userSyncing(ctx context.Context, userID, setPresence string, timeout time.Duration) {
	if err := a.presence.Syncing(ctx, userID, setPresence, timeout); err != nil {
		a.log.Warn("presence: recording a sync", "user", userID, "err", err)
	}
}
