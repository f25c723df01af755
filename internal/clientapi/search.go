package clientapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"

	"chappe.eu/chappe/internal/filter"
	"chappe.eu/chappe/internal/httpapi"
	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/rooms"
	"chappe.eu/chappe/internal/search"
	"chappe.eu/chappe/internal/store"
)

// POST /v3/search ("Server Side Search"): full-text search of the
// room_events category. The text handling (tokens, query syntax, ranks,
// languages) is in internal/search, the index in store/search.go.
//
// Which events a user finds: those of the rooms they have a membership in
// and have not forgotten, up to their leave in rooms they left (the SQL
// bounds this), and of those only what history visibility lets them see
// (each hit passes rooms.Visibility.CanSee, as every context event does).
// Redacted events and encrypted rooms are not in the index.

const (
	// defaultSearchLimit is Synapse's page size when the filter has none.
	defaultSearchLimit = 10
	// maxSearchLimit caps a page: each result may bring twenty context
	// events. The spec lets a server return fewer results than the
	// filter's limit, with next_batch.
	maxSearchLimit = 100
	// maxContextLimit caps before_limit and after_limit alike.
	maxContextLimit = 100
	// maxSearchScan bounds the hits one request reads while skipping
	// those history visibility or the filter hide; a page may then come
	// back short, with a next_batch to go on from there.
	maxSearchScan = 1000
	// maxPredecessors bounds the chain of upgraded rooms followed.
	maxPredecessors = 10
)

// registerSearch adds the routes of search and the user directory.
func (a *API) registerSearch(rt *httpapi.Router, c string) {
	rt.Handle("POST", c+"/v3/search", a.authed(a.search))
	rt.Handle("POST", c+"/v3/user_directory/search", a.authed(a.searchUserDirectory))
}

type searchRequest struct {
	SearchCategories map[string]json.RawMessage `json:"search_categories"`
}

type roomEventsCriteria struct {
	SearchTerm   *string         `json:"search_term"`
	Keys         []string        `json:"keys"`
	Filter       json.RawMessage `json:"filter"`
	OrderBy      string          `json:"order_by"`
	EventContext *struct {
		BeforeLimit    *int `json:"before_limit"`
		AfterLimit     *int `json:"after_limit"`
		IncludeProfile bool `json:"include_profile"`
	} `json:"event_context"`
	IncludeState bool `json:"include_state"`
	Groupings    *struct {
		GroupBy []struct {
			Key string `json:"key"`
		} `json:"group_by"`
	} `json:"groupings"`
}

// roomSearch is a parsed, validated search of room_events.
type roomSearch struct {
	query        *search.Query
	filter       filter.RoomEventFilter
	byRank       bool
	limit        int
	types        []string
	context      bool
	before       int
	after        int
	profiles     bool
	includeState bool
	groupBy      map[string]bool // "room_id", "sender"
	token        *searchToken    // from next_batch, if any
}

// searchToken is a next_batch: where the previous page ended, the stream
// position that bounds the whole search, and the group it continues, if
// any. It travels as base64url JSON.
type searchToken struct {
	Order string  `json:"o"` // "rank" or "recent"
	Rank  float64 `json:"r"`
	Pos   int64   `json:"p"`
	Upto  int64   `json:"u"`
	Group string  `json:"g,omitempty"` // "room_id" or "sender"
	Key   string  `json:"k,omitempty"` // the group's room or sender
}

func (t searchToken) String() string {
	b, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(b)
}

func parseSearchToken(s, order string) (*searchToken, error) {
	bad := matrix.InvalidParam("Invalid next_batch")
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, bad
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var t searchToken
	if dec.Decode(&t) != nil || dec.More() {
		return nil, bad
	}
	if t.Order != order {
		return nil, matrix.InvalidParam("next_batch belongs to a search in another order")
	}
	groupOK := (t.Group == "" && t.Key == "") || ((t.Group == "room_id" || t.Group == "sender") && t.Key != "" && storable(t.Key))
	if t.Pos < 1 || t.Upto < t.Pos || !groupOK {
		return nil, bad
	}
	return &t, nil
}

// parseSearch reads and checks the request. Bad input is a 400 with the
// spec's errcodes, as Synapse answers it.
func (a *API) parseSearch(r *http.Request) (*roomSearch, error) {
	var req searchRequest
	if err := a.readJSON(r, &req); err != nil {
		return nil, err
	}
	if req.SearchCategories == nil {
		return nil, matrix.MissingParam("Missing search_categories")
	}
	for cat := range req.SearchCategories {
		if cat != "room_events" {
			return nil, matrix.InvalidParam("Unknown search category %q", cat)
		}
	}
	raw, ok := req.SearchCategories["room_events"]
	if !ok || string(raw) == "null" {
		return nil, matrix.MissingParam("Missing search_categories.room_events")
	}
	var c roomEventsCriteria
	if err := httpapi.DecodeJSON(raw, &c); err != nil {
		return nil, err
	}
	if c.SearchTerm == nil {
		return nil, matrix.MissingParam("Missing search_term")
	}
	rs := &roomSearch{limit: defaultSearchLimit, groupBy: map[string]bool{}}
	var err error
	if rs.query, err = search.Parse(*c.SearchTerm); err != nil {
		return nil, matrix.InvalidParam("search_term is too long: at most %d words", search.MaxItems)
	}
	switch c.OrderBy {
	case "", "rank":
		rs.byRank = true
	case "recent":
	default:
		return nil, matrix.InvalidParam("order_by must be rank or recent")
	}
	if len(c.Filter) > 0 && string(c.Filter) != "null" {
		f, err := filter.ParseRoomEventFilter(c.Filter)
		if err != nil {
			return nil, matrix.BadJSON("Invalid filter: %v", err)
		}
		rs.filter = *f
		if f.Limit != nil {
			rs.limit = min(*f.Limit, maxSearchLimit)
		}
	}
	if rs.types, err = searchTypes(c.Keys, &rs.filter); err != nil {
		return nil, err
	}
	if ec := c.EventContext; ec != nil {
		rs.context, rs.profiles = true, ec.IncludeProfile
		rs.before, rs.after = 5, 5 // the spec's defaults
		for _, l := range []struct {
			v   *int
			dst *int
		}{{ec.BeforeLimit, &rs.before}, {ec.AfterLimit, &rs.after}} {
			if l.v != nil {
				if *l.v < 0 {
					return nil, matrix.InvalidParam("event_context limits must not be negative")
				}
				*l.dst = min(*l.v, maxContextLimit)
			}
		}
	}
	rs.includeState = c.IncludeState
	if c.Groupings != nil {
		for _, g := range c.Groupings.GroupBy {
			if g.Key != "room_id" && g.Key != "sender" {
				return nil, matrix.InvalidParam("Unknown group key %q", g.Key)
			}
			rs.groupBy[g.Key] = true
		}
	}
	if nb := r.URL.Query().Get("next_batch"); nb != "" {
		order := "recent"
		if rs.byRank {
			order = "rank"
		}
		if rs.token, err = parseSearchToken(nb, order); err != nil {
			return nil, err
		}
	}
	return rs, nil
}

// searchTypes returns the event types to search: those of the keys (all
// by default) that the filter's types and not_types let through.
func searchTypes(keys []string, f *filter.RoomEventFilter) ([]string, error) {
	if keys == nil {
		keys = search.Keys
	}
	typesOnly := f.EventFilter
	typesOnly.Senders, typesOnly.NotSenders = nil, nil
	types := []string{}
	for _, k := range keys {
		typ, ok := search.TypeOfKey(k)
		if !ok {
			return nil, matrix.InvalidParam("Unknown search key %q", k)
		}
		if typesOnly.Match(typ, "") {
			types = append(types, typ)
		}
	}
	return types, nil
}

// searchResult is one hit the user may see.
type searchResult struct {
	ev   *rooms.Stored
	rank float64
}

func (a *API) search(w http.ResponseWriter, r *http.Request, s *Session) error {
	rs, err := a.parseSearch(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	now, err := a.db.StreamPos(ctx)
	if err != nil {
		return err
	}
	q, err := a.storeSearch(ctx, rs, s.UserID, now)
	if err != nil {
		return err
	}
	count, err := a.db.CountSearchEvents(ctx, q)
	if err != nil {
		return err
	}
	page, next, err := a.searchPage(ctx, rs, q, s.UserID)
	if err != nil {
		return err
	}
	out, err := a.searchResponse(ctx, rs, s, page, next, q.Upto, now)
	if err != nil {
		return err
	}
	out["count"] = count
	return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"search_categories": map[string]any{"room_events": out}})
}

// storeSearch turns the request into the store's search: the rooms the
// user may search (SearchScope) that the filter's rooms (with, as in
// Synapse, the rooms they were upgraded from) and not_rooms let through,
// its senders, the group a next_batch continues, and the bound position.
func (a *API) storeSearch(ctx context.Context, rs *roomSearch, userID string, now int64) (store.EventSearch, error) {
	f := &rs.filter
	q := store.EventSearch{Query: rs.query, Types: rs.types, ByRank: rs.byRank, Upto: now,
		Senders: storableOnly(f.Senders), NotSenders: storableOnly(f.NotSenders)}
	scope, err := a.db.SearchScope(ctx, userID)
	if err != nil {
		return q, err
	}
	inScope := make(map[string]bool, len(scope))
	for _, r := range scope {
		inScope[r.RoomID] = true
	}
	var rooms []string
	if f.Rooms != nil {
		rooms = []string{}
		for _, id := range f.Rooms {
			if !inScope[id] {
				continue // nothing to search there, nor in its predecessors
			}
			prev, err := a.predecessors(ctx, id)
			if err != nil {
				return q, err
			}
			rooms = append(append(rooms, id), prev...)
		}
	}
	if t := rs.token; t != nil {
		q.Upto = min(t.Upto, now)
		q.After = &store.SearchCursor{Rank: t.Rank, Pos: t.Pos}
		switch t.Group {
		case "room_id":
			rooms = narrow(rooms, t.Key)
		case "sender":
			q.Senders = narrow(q.Senders, t.Key)
		}
	}
	only, not := setOf(rooms), setOf(f.NotRooms)
	for _, r := range scope {
		if (rooms == nil || only[r.RoomID]) && !not[r.RoomID] {
			q.Scope = append(q.Scope, r)
		}
	}
	return q, nil
}

func setOf(list []string) map[string]bool {
	m := make(map[string]bool, len(list))
	for _, s := range list {
		m[s] = true
	}
	return m
}

// storableOnly drops the strings that cannot name anything stored (and
// that PostgreSQL would refuse), keeping nil as nil.
func storableOnly(list []string) []string {
	if list == nil {
		return nil
	}
	out := []string{}
	for _, s := range list {
		if storable(s) {
			out = append(out, s)
		}
	}
	return out
}

// narrow restricts an optional allow-list to one value.
func narrow(list []string, v string) []string {
	if list == nil {
		return []string{v}
	}
	for _, x := range list {
		if x == v {
			return []string{v}
		}
	}
	return []string{}
}

// predecessors returns the rooms a room was upgraded from, nearest first
// (m.room.create's predecessor), as far as this server knows them.
func (a *API) predecessors(ctx context.Context, roomID string) ([]string, error) {
	var out []string
	seen := map[string]bool{roomID: true}
	for len(out) < maxPredecessors {
		ids, err := a.db.CurrentStateIDs(ctx, roomID, [][2]string{{"m.room.create", ""}})
		if err != nil {
			return nil, err
		}
		id := ids[[2]string{"m.room.create", ""}]
		evs, err := a.rooms.Events(ctx, []string{id})
		if err != nil {
			return nil, err
		}
		e := evs[id]
		if e == nil {
			break
		}
		var c struct {
			Predecessor *struct {
				RoomID string `json:"room_id"`
			} `json:"predecessor"`
		}
		if json.Unmarshal(e.Content(), &c) != nil || c.Predecessor == nil || seen[c.Predecessor.RoomID] || !storable(c.Predecessor.RoomID) {
			break
		}
		roomID = c.Predecessor.RoomID
		seen[roomID] = true
		out = append(out, roomID)
	}
	return out, nil
}

// searchPage reads hits until it has a page the user may see. next is
// the cursor of the last hit read (shown or skipped), or nil when no hit
// remains: a page never skips a hit nor shows one twice, since the next
// one starts after the last hit this one read.
func (a *API) searchPage(ctx context.Context, rs *roomSearch, q store.EventSearch, userID string) (page []searchResult, next *store.SearchCursor, err error) {
	if rs.limit == 0 {
		return nil, nil, nil
	}
	vis := map[string]*rooms.Visibility{}
	ignored, err := a.db.IgnoredUsers(ctx, userID) // hidden here as in /messages
	if err != nil {
		return nil, nil, err
	}
	// Rooms, senders and types are applied by the store; what is left
	// is contains_url. (The rooms of the filter would also drop the
	// predecessors' events.)
	post := rs.filter
	post.Rooms, post.NotRooms = nil, nil
	batchSize := max(2*rs.limit, 20)
	scanned := 0
	for {
		q.Limit = batchSize
		hits, err := a.db.SearchEvents(ctx, q)
		if err != nil {
			return nil, nil, err
		}
		ids := make([]string, len(hits))
		for i, h := range hits {
			ids[i] = h.EventID
		}
		evs, err := a.rooms.Events(ctx, ids)
		if err != nil {
			return nil, nil, err
		}
		for i, h := range hits {
			scanned++
			q.After = &store.SearchCursor{Rank: h.Rank, Pos: h.Pos}
			v := vis[h.RoomID]
			if v == nil {
				if v, err = a.rooms.Visibility(ctx, h.RoomID, userID); err != nil {
					return nil, nil, err
				}
				vis[h.RoomID] = v
			}
			e := evs[h.EventID]
			if e == nil || !v.CanSee(e) || HiddenByIgnore(ignored, e) || !post.MatchEvent(h.RoomID, e.Type(), e.Sender(), e.Content()) {
				continue
			}
			page = append(page, searchResult{ev: e, rank: h.Rank})
			if len(page) == rs.limit {
				if i < len(hits)-1 || len(hits) == batchSize {
					return page, q.After, nil
				}
				return page, nil, nil
			}
		}
		if len(hits) < batchSize {
			return page, nil, nil
		}
		if scanned >= maxSearchScan {
			return page, q.After, nil
		}
	}
}
