package clientapi

import (
	"context"
	"encoding/json"
	"slices"

	"chappe.eu/chappe/internal/rooms"
	"chappe.eu/chappe/internal/search"
	"chappe.eu/chappe/internal/store"
)

// The response of POST /v3/search: results with their context, groups,
// highlights and the rooms' state (see search.go).

// searchResponse builds search_categories.room_events (without count).
func (a *API) searchResponse(ctx context.Context, rs *roomSearch, s *Session, page []searchResult, next *store.SearchCursor,
	upto, now int64) (map[string]any, error) {
	viewer := rooms.Viewer{UserID: s.UserID, DeviceID: s.DeviceID}
	evs := make([]*rooms.Stored, len(page))
	for i, p := range page {
		evs[i] = p.ev
	}
	formatted, err := a.rooms.ClientEvents(ctx, evs, viewer, true)
	if err != nil {
		return nil, err
	}
	results := make([]map[string]any, len(page))
	var highlights []string
	for i, p := range page {
		results[i] = map[string]any{"rank": p.rank, "result": formatted[i]}
		if rs.context {
			c, err := a.searchContext(ctx, rs, s, viewer, p.ev, now)
			if err != nil {
				return nil, err
			}
			results[i]["context"] = c
		}
		if text, ok := search.Text(p.ev.Type(), p.ev.StateKey(), p.ev.Content()); ok {
			highlights = append(highlights, rs.query.Highlights(text)...)
		}
	}
	out := map[string]any{"results": results, "highlights": search.SortedUnique(highlights)}
	if highlights == nil {
		out["highlights"] = []string{}
	}

	var token func(group, key string) string
	if next != nil {
		order := "recent"
		if rs.byRank {
			order = "rank"
		}
		token = func(group, key string) string {
			return searchToken{Order: order, Rank: next.Rank, Pos: next.Pos, Upto: upto, Group: group, Key: key}.String()
		}
		// A page of a group continues that group, as in Synapse: a client
		// that follows the top-level next_batch stays in it.
		if t := rs.token; t != nil {
			out["next_batch"] = token(t.Group, t.Key)
		} else {
			out["next_batch"] = token("", "")
		}
	}
	if len(rs.groupBy) > 0 {
		groups := map[string]any{}
		for key := range rs.groupBy {
			groups[key] = searchGroups(page, key, token)
		}
		out["groups"] = groups
	}
	if rs.includeState {
		state, err := a.searchState(ctx, page, s.UserID, viewer)
		if err != nil {
			return nil, err
		}
		out["state"] = state
	}
	return out, nil
}

// searchGroups partitions a page by room or sender. A group's order is
// the place of its best result (1 first); its next_batch, present when
// the search has more, continues within the group from where the page
// ended: every hit of the group before that point was on this page or
// hidden from the user.
func searchGroups(page []searchResult, key string, token func(group, key string) string) map[string]any {
	type group struct {
		Results   []string `json:"results"`
		Order     int      `json:"order"`
		NextBatch string   `json:"next_batch,omitempty"`
	}
	groups := map[string]*group{}
	for _, p := range page {
		v := p.ev.Sender()
		if key == "room_id" {
			v = rooms.RoomIDOf(p.ev.Event)
		}
		g := groups[v]
		if g == nil {
			g = &group{Order: len(groups) + 1}
			if token != nil {
				g.NextBatch = token(key, v)
			}
			groups[v] = g
		}
		g.Results = append(g.Results, p.ev.EventID())
	}
	out := make(map[string]any, len(groups))
	for v, g := range groups {
		out[v] = g
	}
	return out
}

// searchContext returns the events around a result that the user may
// see, with /messages tokens around them and, if asked, the senders'
// profiles as of the last event returned (as Synapse does).
func (a *API) searchContext(ctx context.Context, rs *roomSearch, s *Session, viewer rooms.Viewer, ev *rooms.Stored, now int64) (map[string]any, error) {
	roomID := rooms.RoomIDOf(ev.Event)
	vis, err := a.rooms.Visibility(ctx, roomID, s.UserID)
	if err != nil {
		return nil, err
	}
	// Nothing after a user's leave is visible to them: do not scan it.
	bound := now
	if m, since := vis.Membership(); m != "join" {
		bound = min(now, since)
	}
	before, start, err := a.contextScan(ctx, vis, roomID, ev.StreamPos-1, 0, rs.before, true)
	if err != nil {
		return nil, err
	}
	after, end, err := a.contextScan(ctx, vis, roomID, ev.StreamPos, bound, rs.after, false)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"start": rooms.StreamToken(start), "end": rooms.StreamToken(end)}
	for key, evs := range map[string][]*rooms.Stored{"events_before": before, "events_after": after} {
		f, err := a.rooms.ClientEvents(ctx, evs, viewer, true)
		if err != nil {
			return nil, err
		}
		if f == nil {
			f = []rooms.ClientEvent{}
		}
		out[key] = f
	}
	if rs.profiles {
		last := ev
		if len(after) > 0 {
			last = after[len(after)-1]
		}
		senders := []string{ev.Sender()}
		for _, e := range append(before, after...) {
			senders = append(senders, e.Sender())
		}
		if out["profile_info"], err = a.profilesAt(ctx, roomID, search.SortedUnique(senders), last.StreamPos); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// contextScan reads up to limit events of the room the user may see,
// backwards from position from (inclusive) down to bound, or forwards
// from after from up to bound, and returns them in stream order with the
// token position where it stopped. It reads at most a few times limit
// events: hidden history (a later joiner's view of "joined" rooms) is not
// worth walking through for context.
func (a *API) contextScan(ctx context.Context, vis *rooms.Visibility, roomID string, from, bound int64, limit int, backwards bool) ([]*rooms.Stored, int64, error) {
	out, cursor, _, err := a.scanRoom(ctx, roomID, from, bound, limit, 4*limit+20, backwards, vis.CanSee)
	if backwards {
		slices.Reverse(out)
	}
	return out, cursor, err
}

// profilesAt returns the display names and avatars of users in a room as
// of a position, from their membership events then.
func (a *API) profilesAt(ctx context.Context, roomID string, users []string, pos int64) (map[string]any, error) {
	out := map[string]any{}
	for _, u := range users {
		id, err := a.db.MemberEventAt(ctx, roomID, u, pos)
		if err == store.ErrNotFound {
			continue
		}
		if err != nil {
			return nil, err
		}
		evs, err := a.rooms.Events(ctx, []string{id})
		if err != nil {
			return nil, err
		}
		e := evs[id]
		if e == nil {
			continue
		}
		var c struct {
			DisplayName *string `json:"displayname"`
			AvatarURL   *string `json:"avatar_url"`
		}
		_ = json.Unmarshal(e.Content(), &c)
		out[u] = map[string]any{"displayname": c.DisplayName, "avatar_url": c.AvatarURL}
	}
	return out, nil
}

// searchState returns, for each room of the page, its state as the user
// may see it: now if they are joined, else as of their leave (roomView).
func (a *API) searchState(ctx context.Context, page []searchResult, userID string, viewer rooms.Viewer) (map[string]any, error) {
	out := map[string]any{}
	for _, p := range page {
		roomID := rooms.RoomIDOf(p.ev.Event)
		if _, done := out[roomID]; done {
			continue
		}
		_, pos, err := a.roomView(ctx, roomID, userID)
		if err == errNotInRoom {
			continue
		}
		if err != nil {
			return nil, err
		}
		state, err := a.stateAt(ctx, roomID, pos)
		if err != nil {
			return nil, err
		}
		f, err := a.rooms.ClientEvents(ctx, state, viewer, true)
		if err != nil {
			return nil, err
		}
		out[roomID] = f
	}
	return out, nil
}
