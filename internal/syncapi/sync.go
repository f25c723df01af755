package syncapi

import (
	"context"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"chappe.eu/chappe/internal/clientapi"
	"chappe.eu/chappe/internal/filter"
	"chappe.eu/chappe/internal/httpapi"
	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/rooms"
)

const (
	// defaultTimelineLimit is Synapse's default for timeline.limit.
	defaultTimelineLimit = 10
	// maxTimeout caps long-polls; clients ask for 30 s.
	maxTimeout = 5 * time.Minute
)

// request is one /sync call, parsed.
type request struct {
	userID    string
	deviceID  string
	sinceTok  Token // all zero: initial sync
	since     int64 // sinceTok.Pos
	upto      int64 // the stream position this response is consistent with
	next      Token // next_batch; sections may advance their own streams
	fullState bool
	filter    *filter.Filter
	viewer    rooms.Viewer
	ignored   map[string]bool // whose events the user ignores (accountdata.go)
	// accountData holds the account data changed in (since, upto], by
	// room ("" for global), read once a build (accountdata.go).
	accountData accountDataByRoom
}

// A globalSection adds one top-level part of the response (to-device,
// account data, presence, device lists…) for (since, upto]. It reports
// whether it added anything new, which ends a long-poll.
type globalSection func(a *API, ctx context.Context, req *request, resp *response) (bool, error)

// A roomSection adds one part of a joined room's entry (ephemeral events,
// room account data, unread counts…). It reports whether it added anything
// new; a room with nothing new in any part is left out.
type roomSection func(a *API, ctx context.Context, req *request, roomID string, jr *joinedRoom) (bool, error)

// Sections register themselves from their own files' init functions, so
// that each part of /sync lives in one file.
var (
	globalSections []globalSection
	roomSections   []roomSection
)

func (a *API) sync(w http.ResponseWriter, r *http.Request, s *clientapi.Session) error {
	q := r.URL.Query()
	req := request{userID: s.UserID, deviceID: s.DeviceID, viewer: rooms.Viewer{UserID: s.UserID, DeviceID: s.DeviceID}}
	if since := q.Get("since"); since != "" {
		tok, err := ParseToken(since)
		if err != nil {
			return err
		}
		req.sinceTok, req.since = tok, tok.Pos
	}
	var timeout time.Duration
	if t := q.Get("timeout"); t != "" {
		ms, err := strconv.ParseInt(t, 10, 64)
		if err != nil || ms < 0 {
			return matrix.InvalidParam("timeout must be a non-negative integer")
		}
		timeout = min(time.Duration(min(ms, int64(maxTimeout/time.Millisecond)))*time.Millisecond, maxTimeout)
	}
	switch fs := q.Get("full_state"); fs {
	case "", "false":
	case "true":
		req.fullState = true
	default:
		return matrix.InvalidParam("full_state must be true or false")
	}
	switch p := q.Get("set_presence"); p {
	case "", "online", "offline", "unavailable":
	default:
		return matrix.InvalidParam("set_presence must be online, offline or unavailable")
	}
	f, err := a.loadFilter(r, s.UserID)
	if err != nil {
		return err
	}
	req.filter = f
	a.userSyncing(r.Context(), s.UserID, q.Get("set_presence"), timeout) // presence.go

	ctx := r.Context()
	deadline := time.Now().Add(timeout)
	initial := req.sinceTok == Token{}
	for {
		gen := a.notifier.Generation(s.UserID) // before reading the store
		if req.upto, err = a.db.StreamPos(ctx); err != nil {
			return err
		}
		if req.since > req.upto {
			// A token from the future (or another server): answer from now.
			req.since = req.upto
		}
		req.next = Token{Pos: req.upto, Typing: a.typing.Pos()} // before reading any room's typing (typing.go)
		resp, empty, err := a.build(ctx, &req)
		if err != nil {
			return err
		}
		resp.NextBatch = req.next.String()
		if !empty || initial || req.fullState || !time.Now().Before(deadline) {
			return httpapi.WriteJSON(w, http.StatusOK, resp)
		}
		wctx, cancel := context.WithDeadline(ctx, deadline)
		woke := a.notifier.Wait(wctx, s.UserID, gen)
		cancel()
		if !woke {
			if ctx.Err() != nil {
				return nil // the client went away
			}
			return httpapi.WriteJSON(w, http.StatusOK, resp)
		}
	}
}

// response is the body of /sync.
type response struct {
	roomsMu sync.Mutex // guards Rooms while rooms are assembled concurrently

	NextBatch   string         `json:"next_batch"`
	Rooms       roomsSection   `json:"rooms"`
	Presence    eventsList     `json:"presence"`
	AccountData eventsList     `json:"account_data"`
	ToDevice    eventsList     `json:"to_device"`
	DeviceLists map[string]any `json:"device_lists"`
	OTKCounts   map[string]int `json:"device_one_time_keys_count"`
	// FallbackKeyTypes is required by the spec, even when empty.
	FallbackKeyTypes []string `json:"device_unused_fallback_key_types"`
}

// addRoom records a room in its section; rooms are assembled concurrently.
func (r *response) addRoom(add func(*roomsSection)) {
	r.roomsMu.Lock()
	defer r.roomsMu.Unlock()
	add(&r.Rooms)
}

type eventsList struct {
	Events []any `json:"events"`
}

type roomsSection struct {
	Join   map[string]*joinedRoom  `json:"join"`
	Invite map[string]*invitedRoom `json:"invite"`
	Leave  map[string]*leftRoom    `json:"leave"`
	Knock  map[string]*knockedRoom `json:"knock"`
}

type timeline struct {
	Events    []rooms.ClientEvent `json:"events"`
	Limited   bool                `json:"limited"`
	PrevBatch string              `json:"prev_batch,omitempty"`
}

type stateList struct {
	Events []rooms.ClientEvent `json:"events"`
}

type joinedRoom struct {
	Timeline    timeline       `json:"timeline"`
	State       stateList      `json:"state"`
	Ephemeral   eventsList     `json:"ephemeral"`
	AccountData eventsList     `json:"account_data"`
	Summary     map[string]any `json:"summary"`

	// Counts of unread notifications, set by unread.go.
	UnreadNotifications       map[string]int            `json:"unread_notifications,omitempty"`
	UnreadThreadNotifications map[string]map[string]int `json:"unread_thread_notifications,omitempty"`
}

type leftRoom struct {
	Timeline    timeline   `json:"timeline"`
	State       stateList  `json:"state"`
	AccountData eventsList `json:"account_data"`
}

type strippedEvent struct {
	Content  any    `json:"content"`
	Sender   string `json:"sender"`
	StateKey string `json:"state_key"`
	Type     string `json:"type"`
}

type invitedRoom struct {
	InviteState struct {
		Events []strippedEvent `json:"events"`
	} `json:"invite_state"`
}

type knockedRoom struct {
	KnockState struct {
		Events []strippedEvent `json:"events"`
	} `json:"knock_state"`
}

func newResponse() *response {
	return &response{
		Rooms: roomsSection{Join: map[string]*joinedRoom{}, Invite: map[string]*invitedRoom{},
			Leave: map[string]*leftRoom{}, Knock: map[string]*knockedRoom{}},
		Presence: eventsList{Events: []any{}}, AccountData: eventsList{Events: []any{}}, ToDevice: eventsList{Events: []any{}},
		DeviceLists: map[string]any{"changed": []string{}, "left": []string{}}, OTKCounts: map[string]int{}, FallbackKeyTypes: []string{},
	}
}

// build assembles the response for (since, upto]; empty reports that an
// incremental sync found nothing for the user.
func (a *API) build(ctx context.Context, req *request) (*response, bool, error) {
	resp := newResponse()
	if err := a.loadUserData(ctx, req); err != nil {
		return nil, false, err
	}
	ms, err := a.db.UserRooms(ctx, req.userID)
	if err != nil {
		return nil, false, err
	}
	forgotten, err := a.db.ForgottenRooms(ctx, req.userID)
	if err != nil {
		return nil, false, err
	}
	rf := &req.filter.Room
	incremental := req.sinceTok != Token{} && !req.fullState
	var news map[string]bool
	if incremental {
		if news, err = a.db.RoomsWithNews(ctx, req.userID, req.since, req.upto); err != nil {
			return nil, false, err
		}
	}
	var todo []string
	for _, m := range ms {
		if forgotten[m.RoomID] || !filter.MatchRoom(rf.Rooms, rf.NotRooms, m.RoomID) {
			continue
		}
		if req.since > 0 && m.Pos <= req.since && m.Membership != "join" {
			continue // nothing new can concern a room the user is not in
		}
		if incremental && m.Pos <= req.since && !news[m.RoomID] && !a.typingChanged(req, m.RoomID) {
			continue // a joined room with nothing new: no query for it
		}
		if hide, err := a.hiddenInvite(ctx, req, m); err != nil {
			return nil, false, err
		} else if hide {
			continue // an invite from an ignored user (accountdata.go)
		}
		todo = append(todo, m.RoomID)
	}
	empty, err := a.syncRooms(ctx, req, resp, todo)
	if err != nil {
		return nil, false, err
	}
	for _, section := range globalSections {
		added, err := section(a, ctx, req, resp)
		if err != nil {
			return nil, false, err
		}
		empty = empty && !added
	}
	return resp, empty, nil
}

// roomWorkers is how many rooms of one /sync are assembled at once: most
// of a room's time is spent in the database and in formatting, which run
// on both cores when two or more rooms are built together.
const roomWorkers = 4

// syncRooms adds the rooms to the response, several at a time; empty
// reports that none of them added anything.
func (a *API) syncRooms(ctx context.Context, req *request, resp *response, roomIDs []string) (empty bool, err error) {
	switch len(roomIDs) {
	case 0:
		return true, nil
	case 1:
		added, err := a.syncRoom(ctx, req, resp, roomIDs[0])
		return !added, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex // guards anyAdded and firstErr
		anyAdded bool
		firstErr error
		wg       sync.WaitGroup
		next     = make(chan string)
	)
	for range min(roomWorkers, len(roomIDs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range next {
				added, err := a.syncRoom(ctx, req, resp, id)
				mu.Lock()
				anyAdded = anyAdded || added
				if err != nil && firstErr == nil {
					firstErr = err
					cancel()
				}
				mu.Unlock()
			}
		}()
	}
	for _, id := range roomIDs {
		next <- id
	}
	close(next)
	wg.Wait()
	return !anyAdded, firstErr
}

// syncRoom adds one room to the response, in the section its membership
// as of upto puts it in. It reports whether it added anything.
func (a *API) syncRoom(ctx context.Context, req *request, resp *response, roomID string) (bool, error) {
	vis, err := a.rooms.Visibility(ctx, roomID, req.userID)
	if err != nil {
		return false, err
	}
	memNow, memPos := vis.MembershipAt(req.upto)
	memThen, _ := vis.MembershipAt(req.since)
	initial := req.sinceTok == Token{}
	changed := memPos > req.since // the membership itself changed in (since, upto]
	rf := &req.filter.Room

	switch memNow {
	case "join":
		newlyJoined := !initial && memThen != "join"
		tl, err := a.timeline(ctx, req, vis, roomID, req.since, req.upto, initial || newlyJoined)
		if err != nil {
			return false, err
		}
		jr := &joinedRoom{Ephemeral: eventsList{Events: []any{}}, AccountData: eventsList{Events: []any{}}}
		extras := false
		for _, section := range roomSections {
			added, err := section(a, ctx, req, roomID, jr)
			if err != nil {
				return false, err
			}
			extras = extras || added
		}
		if !initial && !newlyJoined && !req.fullState && len(tl.events) == 0 && !extras {
			return false, nil
		}
		if err := a.fillRoom(ctx, req, vis, roomID, tl, initial || newlyJoined, &jr.Timeline, &jr.State); err != nil {
			return false, err
		}
		if jr.Summary, err = a.summary(ctx, roomID, req.userID, initial || newlyJoined || hasMemberEvents(tl.events)); err != nil {
			return false, err
		}
		resp.addRoom(func(r *roomsSection) { r.Join[roomID] = jr })
		return true, nil

	case "invite", "knock":
		if !initial && !changed {
			return false, nil
		}
		stripped, err := a.strippedState(ctx, roomID, req.userID, memPos)
		if err != nil {
			return false, err
		}
		if memNow == "invite" {
			ir := &invitedRoom{}
			ir.InviteState.Events = stripped
			resp.addRoom(func(r *roomsSection) { r.Invite[roomID] = ir })
		} else {
			kr := &knockedRoom{}
			kr.KnockState.Events = stripped
			resp.addRoom(func(r *roomsSection) { r.Knock[roomID] = kr })
		}
		return true, nil

	default: // leave, ban
		if initial && !rf.IncludeLeave {
			return false, nil
		}
		if !initial && (!changed || memThen == "leave" || memThen == "ban") {
			return false, nil
		}
		if !vis.HasMemberships() {
			return false, nil
		}
		// The timeline and state stop at the leave: nothing that happened
		// in the room afterwards.
		tl, err := a.timeline(ctx, req, vis, roomID, req.since, memPos, initial || memThen != "join")
		if err != nil {
			return false, err
		}
		lr := &leftRoom{AccountData: eventsList{Events: []any{}}}
		lr.AccountData.Events = a.roomAccountData(req, roomID, lr.AccountData.Events) // accountdata.go
		if err := a.fillRoom(ctx, req, vis, roomID, tl, initial || memThen != "join", &lr.Timeline, &lr.State); err != nil {
			return false, err
		}
		resp.addRoom(func(r *roomsSection) { r.Leave[roomID] = lr })
		return true, nil
	}
}

func hasMemberEvents(evs []*rooms.Stored) bool {
	for _, e := range evs {
		if e.Type() == "m.room.member" {
			return true
		}
	}
	return false
}

// rawTimeline is a timeline before formatting.
type rawTimeline struct {
	events  []*rooms.Stored // oldest first
	limited bool
	start   int64 // the position before the first event: prev_batch
}

// maxTimelineScan bounds the stored events one room's timeline reads while
// skipping events the filter or history visibility hides.
const maxTimelineScan = 2000

// timeline returns the newest visible events of (from, to], at most the
// filter's limit. With fromStart, from is ignored and the timeline may
// reach back to the room's beginning (initial sync, newly joined rooms).
func (a *API) timeline(ctx context.Context, req *request, vis *rooms.Visibility, roomID string, from, to int64, fromStart bool) (*rawTimeline, error) {
	tf := &req.filter.Room.Timeline
	limit := tf.LimitOr(defaultTimelineLimit)
	lower := from
	if fromStart {
		lower = 0
	}
	tl := &rawTimeline{start: to}
	cursor, scanned := to, 0
	for len(tl.events) <= limit && cursor > lower && scanned < maxTimelineScan {
		want := limit + 1 - len(tl.events)
		batch, err := a.db.RoomEvents(ctx, roomID, lower, cursor, want, true)
		if err != nil {
			return nil, err
		}
		evs, err := a.rooms.FromStored(batch)
		if err != nil {
			return nil, err
		}
		for _, b := range batch {
			scanned++
			cursor = b.StreamPos - 1
			e := evs[b.EventID]
			if e == nil || !vis.CanSee(e) || clientapi.HiddenByIgnore(req.ignored, e) || !tf.MatchEvent(roomID, e.Type(), e.Sender(), e.Content()) {
				continue
			}
			tl.events = append(tl.events, e)
		}
		if len(batch) < want {
			break
		}
	}
	if len(tl.events) > limit {
		tl.limited = true
		tl.events = tl.events[:limit]
	}
	// Newest first so far; clients want oldest first.
	for i, j := 0, len(tl.events)-1; i < j; i, j = i+1, j-1 {
		tl.events[i], tl.events[j] = tl.events[j], tl.events[i]
	}
	if len(tl.events) > 0 {
		tl.start = tl.events[0].StreamPos - 1
	}
	if scanned >= maxTimelineScan && cursor > lower {
		tl.limited = true
	}
	if !fromStart && !tl.limited && len(tl.events) > 0 {
		tl.start = from
	}
	return tl, nil
}

// fillRoom formats the timeline and computes the state section: the state
// at the start of the timeline — whole for initial syncs, newly joined
// rooms and full_state, else only what changed since the last sync.
func (a *API) fillRoom(ctx context.Context, req *request, vis *rooms.Visibility, roomID string, tl *rawTimeline, whole bool, out *timeline, state *stateList) error {
	evs, err := a.rooms.ClientEvents(ctx, tl.events, req.viewer, false)
	if err != nil {
		return err
	}
	out.Events, out.Limited, out.PrevBatch = evs, tl.limited, rooms.StreamToken(tl.start)
	if out.Events == nil {
		out.Events = []rooms.ClientEvent{}
	}
	state.Events = []rooms.ClientEvent{}
	whole = whole || req.fullState
	if !whole && !tl.limited {
		return nil // every state change since the last sync is in the timeline
	}
	ids, err := a.db.StateIDsAt(ctx, roomID, tl.start)
	if err != nil {
		return err
	}
	list := make([]string, 0, len(ids))
	for _, id := range ids {
		list = append(list, id)
	}
	loaded, err := a.rooms.Events(ctx, list)
	if err != nil {
		return err
	}
	sf := &req.filter.Room.State
	lazy := sf.LazyLoadMembers
	senders := map[string]bool{req.userID: true}
	for _, e := range tl.events {
		senders[e.Sender()] = true
	}
	var chosen []*rooms.Stored
	for _, e := range loaded {
		if !whole && e.StreamPos <= req.since {
			continue // the client has it
		}
		if lazy && e.Type() == "m.room.member" && !senders[*e.StateKey()] {
			continue
		}
		if !sf.MatchEvent(roomID, e.Type(), e.Sender(), e.Content()) {
			continue
		}
		chosen = append(chosen, e)
	}
	sort.Slice(chosen, func(i, j int) bool { return chosen[i].StreamPos < chosen[j].StreamPos })
	if state.Events, err = a.rooms.ClientEvents(ctx, chosen, req.viewer, false); err != nil {
		return err
	}
	if state.Events == nil {
		state.Events = []rooms.ClientEvent{}
	}
	return nil
}

// summary computes the room summary ("m.heroes" and member counts) when
// it may have changed.
func (a *API) summary(ctx context.Context, roomID, userID string, needed bool) (map[string]any, error) {
	out := map[string]any{}
	if !needed {
		return out, nil
	}
	members, err := a.db.RoomMemberships(ctx, roomID)
	if err != nil {
		return nil, err
	}
	joined, invited := 0, 0
	var heroes, others []string
	for _, m := range members {
		switch m.Membership {
		case "join":
			joined++
		case "invite":
			invited++
		}
		if m.UserID == userID {
			continue
		}
		if m.Membership == "join" || m.Membership == "invite" {
			heroes = append(heroes, m.UserID)
		} else {
			others = append(others, m.UserID)
		}
	}
	// Spec: heroes are the first 5 members other than the user, by
	// stream order ideally; sorted by user ID as Synapse does when it has
	// no better order. Left members only when nobody else is there.
	if len(heroes) == 0 {
		heroes = others
	}
	sort.Strings(heroes)
	if len(heroes) > 5 {
		heroes = heroes[:5]
	}
	if heroes == nil {
		heroes = []string{}
	}
	out["m.heroes"] = heroes
	out["m.joined_member_count"] = joined
	out["m.invited_member_count"] = invited
	return out, nil
}

// strippedState is the stripped state an invited or knocking user sees
// ("Stripped state"): the room's name, avatar, join rules and the like as
// of their invite or knock, and their own member event.
func (a *API) strippedState(ctx context.Context, roomID, userID string, pos int64) ([]strippedEvent, error) {
	ids, err := a.db.StateIDsAt(ctx, roomID, pos)
	if err != nil {
		return nil, err
	}
	keys := [][2]string{{"m.room.create", ""}, {"m.room.name", ""}, {"m.room.avatar", ""}, {"m.room.topic", ""},
		{"m.room.join_rules", ""}, {"m.room.canonical_alias", ""}, {"m.room.encryption", ""}, {"m.room.member", userID}}
	var list []string
	for _, k := range keys {
		if id, ok := ids[k]; ok {
			list = append(list, id)
		}
	}
	evs, err := a.rooms.Events(ctx, list)
	if err != nil {
		return nil, err
	}
	var stored []*rooms.Stored
	for _, id := range list {
		if e := evs[id]; e != nil {
			stored = append(stored, e)
		}
	}
	// Formatted for clients first, so that a redacted name or topic is
	// served redacted here too. No device: stripped state carries no
	// transaction IDs.
	formatted, err := a.rooms.ClientEvents(ctx, stored, rooms.Viewer{UserID: userID}, false)
	if err != nil {
		return nil, err
	}
	out := []strippedEvent{}
	for _, e := range formatted {
		out = append(out, strippedEvent{Content: e.Content, Sender: e.Sender, StateKey: *e.StateKey, Type: e.Type})
	}
	return out, nil
}
