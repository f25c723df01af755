// Package rooms is the room server of one Chappe process: it creates
// rooms, builds local events, checks them against the authorization rules
// of the room's version, stores the accepted ones and tells the notifier.
// Rejected events are answered with M_FORBIDDEN and never stored.
//
// Writes to one room are serialised by a per-room lock in this process; a
// second process sharing PostgreSQL would need the same lock in the
// database (an advisory lock per room), which comes with multi-process
// support.
package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"sync"
	"time"

	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/push"
	"chappe.eu/chappe/internal/room/auth"
	"chappe.eu/chappe/internal/room/event"
	"chappe.eu/chappe/internal/room/signing"
	"chappe.eu/chappe/internal/store"
)

// Notifier is told about every new stream position and the room it
// concerns; /sync waits on it.
type Notifier interface {
	NotifyRoom(pos int64, roomID string)
	NotifyMember(pos int64, roomID, userID, membership string)
}

// announce tells the notifier about events stored up to pos.
func (s *Service) announce(pos int64, evs []store.NewEvent) {
	if len(evs) == 0 {
		return
	}
	members := false
	for _, e := range evs {
		if e.Type == "m.room.member" && e.StateKey != nil {
			s.notify.NotifyMember(pos, e.RoomID, *e.StateKey, e.Membership)
			members = true
		}
	}
	if !members {
		s.notify.NotifyRoom(pos, evs[0].RoomID)
	}
}

// Service is the room server.
type Service struct {
	db     *store.DB
	server matrix.ServerName
	key    store.SigningKey
	log    *slog.Logger
	notify Notifier
	events *eventCache
	push   *push.Evaluator // push rules of local members, for each local event

	locksMu sync.Mutex // guards locks
	locks   map[string]*roomLock
	heads   heads // what each room's next local event builds on
}

type roomLock struct {
	mu   sync.Mutex
	refs int
}

// New returns the room server; it loads (or creates) the server's signing key.
func New(ctx context.Context, db *store.DB, server matrix.ServerName, notify Notifier, log *slog.Logger) (*Service, error) {
	key, err := db.ServerSigningKey(ctx)
	if err != nil {
		return nil, fmt.Errorf("rooms: signing key: %w", err)
	}
	return &Service{db: db, server: server, key: key, log: log, notify: notify,
		events: newEventCache(50_000), push: push.NewEvaluator(db, string(server)), locks: map[string]*roomLock{},
		heads: heads{m: map[string]*head{}}}, nil
}

// lockRoom serialises writers of one room and returns the unlock function.
func (s *Service) lockRoom(roomID string) func() {
	s.locksMu.Lock()
	l := s.locks[roomID]
	if l == nil {
		l = &roomLock{}
		s.locks[roomID] = l
	}
	l.refs++
	s.locksMu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		s.locksMu.Lock()
		if l.refs--; l.refs == 0 {
			delete(s.locks, roomID)
		}
		s.locksMu.Unlock()
	}
}

// ErrUnknownRoom: the room does not exist here.
var ErrUnknownRoom = errors.New("rooms: unknown room")

// Version returns the room's version, or ErrUnknownRoom.
func (s *Service) Version(ctx context.Context, roomID string) (*event.RoomVersion, error) {
	id, err := s.db.RoomVersion(ctx, roomID)
	if err == store.ErrNotFound {
		return nil, ErrUnknownRoom
	}
	if err != nil {
		return nil, err
	}
	v, ok := event.Version(id)
	if !ok {
		return nil, fmt.Errorf("rooms: room %s has unsupported version %q", roomID, id)
	}
	return v, nil
}

// Events returns parsed events by ID (absent IDs are left out), from the
// cache when possible: events never change, so caching them is safe in
// every process.
func (s *Service) Events(ctx context.Context, ids []string) (map[string]*Stored, error) {
	out := make(map[string]*Stored, len(ids))
	var missing []string
	for _, id := range ids {
		if e := s.events.get(id); e != nil {
			out[id] = e
		} else {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	stored, err := s.db.EventsByID(ctx, missing)
	if err != nil {
		return nil, err
	}
	read, err := s.FromStored(stored)
	if err != nil {
		return nil, err
	}
	maps.Copy(out, read)
	return out, nil
}

// FromStored returns the events the store read, parsed, from the cache
// where they are in it.
func (s *Service) FromStored(stored []store.StoredEvent) (map[string]*Stored, error) {
	out := make(map[string]*Stored, len(stored))
	for _, se := range stored {
		if e := s.events.get(se.EventID); e != nil {
			out[se.EventID] = e
			continue
		}
		e, err := s.parseStored(se)
		if err != nil {
			return nil, err
		}
		out[se.EventID] = e
	}
	return out, nil
}

// Stored is an accepted event with what the store knows about it.
type Stored struct {
	*event.Event
	StreamPos    int64
	SenderDevice string
	TxnID        string
	// RedactedBy is read fresh from the store, so it is not cached.
}

func (s *Service) parseStored(se store.StoredEvent) (*Stored, error) {
	v, ok := event.Version(se.Version)
	if !ok {
		return nil, fmt.Errorf("rooms: unsupported room version %q", se.Version)
	}
	ev, err := event.Parse(se.PDU, v)
	if err != nil {
		return nil, fmt.Errorf("rooms: stored event %s: %w", se.EventID, err)
	}
	st := &Stored{Event: ev, StreamPos: se.StreamPos, SenderDevice: se.SenderDevice, TxnID: se.TxnID}
	s.events.put(se.EventID, st)
	return st, nil
}

// currentAuthState loads the current state the rules need for an event.
func (s *Service) currentAuthState(ctx context.Context, v *event.RoomVersion, roomID string, tuples []event.StateKeyTuple) (auth.StateMap, error) {
	keys := make([][2]string, 0, len(tuples)+1)
	keys = append(keys, [2]string{"m.room.create", ""}) // always: v12 needs it though it is never cited
	for _, t := range tuples {
		keys = append(keys, [2]string{t.Type, t.StateKey})
	}
	ids, err := s.db.CurrentStateIDs(ctx, roomID, keys)
	if err != nil {
		return nil, err
	}
	list := make([]string, 0, len(ids))
	for _, id := range ids {
		list = append(list, id)
	}
	evs, err := s.Events(ctx, list)
	if err != nil {
		return nil, err
	}
	state := make(auth.StateMap, len(evs))
	for k, id := range ids {
		if e := evs[id]; e != nil {
			state[event.StateKeyTuple{Type: k[0], StateKey: k[1]}] = e.Event
		}
	}
	return state, nil
}

// SendRequest is a local event to create.
type SendRequest struct {
	RoomID   string
	Sender   string
	DeviceID string // with TxnID: makes the send idempotent per device
	TxnID    string
	Type     string
	StateKey *string
	Content  json.RawMessage
	Redacts  string // for m.room.redaction
}

// Send builds, authorises, stores and announces a local event. A repeated
// transaction ID returns the event of the first request.
func (s *Service) Send(ctx context.Context, req SendRequest) (eventID string, err error) {
	v, err := s.Version(ctx, req.RoomID)
	if err != nil {
		return "", err
	}
	unlock := s.lockRoom(req.RoomID)
	defer unlock()
	h, err := s.loadHead(ctx, req.RoomID)
	if err != nil {
		return "", err
	}
	b := &builder{s: s, v: v, roomID: req.RoomID, prev: h.prev, depth: h.depth}
	needed, err := auth.AuthEventsNeeded(v, req.Type, req.Sender, req.StateKey, req.Content)
	if err != nil {
		return "", matrix.BadJSON("%v", err)
	}
	if b.state, err = s.authState(ctx, h, needed); err != nil {
		return "", err
	}
	ne, err := b.add(req.Type, req.Sender, req.StateKey, req.Content, req.Redacts)
	if err != nil {
		return "", err
	}
	if err := s.checkSend(ctx, b, req); err != nil { // after the rules: non-members learn nothing
		return "", err
	}
	ne.SenderDevice, ne.TxnID = req.DeviceID, req.TxnID
	if ne.Push, err = s.pushOutcome(ctx, b, ne); err != nil {
		return "", err
	}
	// A retried transaction is found by the store's unique key on (user,
	// device, transaction ID): the event built for it is dropped.
	pos, err := s.db.AppendEvents(ctx, []store.NewEvent{*ne})
	if err == store.ErrConflict && req.TxnID != "" {
		return s.db.EventIDForTxn(ctx, req.Sender, req.DeviceID, req.TxnID)
	}
	if err != nil {
		s.heads.forget(req.RoomID) // the store may or may not hold it: reload
		return "", err
	}
	h.advance(b, b.built)
	// The readers of the room's /syncs find it parsed.
	s.events.put(ne.EventID, &Stored{Event: b.parsed[len(b.parsed)-1], StreamPos: pos, SenderDevice: ne.SenderDevice, TxnID: ne.TxnID})
	s.announce(pos, []store.NewEvent{*ne})
	return ne.EventID, nil
}

// builder creates a run of local events in one room, each the child of the
// one before, tracking the state they change.
type builder struct {
	s      *Service
	v      *event.RoomVersion
	roomID string
	prev   []string
	depth  int64
	state  auth.StateMap // the current state the rules need, kept up to date
	built  []store.NewEvent
	parsed []*event.Event // built's events, parsed
}

// add builds the next event, checks it and appends it to b.built.
func (b *builder) add(typ, sender string, stateKey *string, content json.RawMessage, redacts string) (*store.NewEvent, error) {
	needed, err := auth.AuthEventsNeeded(b.v, typ, sender, stateKey, content)
	if err != nil {
		return nil, matrix.BadJSON("%v", err)
	}
	var authIDs []matrix.EventID
	for _, t := range needed {
		if e := b.state[t]; e != nil {
			authIDs = append(authIDs, matrix.EventID(e.EventID()))
		}
	}
	prevIDs := make([]matrix.EventID, len(b.prev))
	for i, p := range b.prev {
		prevIDs[i] = matrix.EventID(p)
	}
	b.depth++
	p := event.Proto{
		Type: typ, StateKey: stateKey, Sender: matrix.UserID(sender), Content: content,
		Redacts: matrix.EventID(redacts), PrevEvents: prevIDs, AuthEvents: authIDs,
		Depth: b.depth, OriginServerTS: time.Now().UnixMilli(),
	}
	if !(b.v.HashRoomIDs && typ == "m.room.create") {
		p.RoomID = matrix.RoomID(b.roomID)
	}
	ev, err := event.Build(p, b.v, b.s.server, signing.KeyID(b.s.key.ID), b.s.key.Key)
	if errors.Is(err, event.ErrTooLarge) {
		return nil, matrix.Errorf(http.StatusRequestEntityTooLarge, matrix.ErrTooLarge, "Event is larger than 65536 bytes")
	}
	if err != nil {
		return nil, matrix.BadJSON("Invalid event: %v", err)
	}
	if err := auth.Check(ev, b.state); err != nil {
		var ae *auth.Error
		if errors.As(err, &ae) {
			return nil, matrix.Errorf(http.StatusForbidden, matrix.ErrForbidden, "%s", ae.Reason)
		}
		return nil, err
	}
	if typ == "m.room.create" && b.roomID == "" {
		b.roomID = ev.CreatedRoomID()
	}
	ne := store.NewEvent{
		EventID: ev.EventID(), RoomID: b.roomID, Type: typ, StateKey: stateKey, Sender: sender,
		Depth: ev.Depth(), OriginServerTS: ev.OriginServerTS(), PDU: ev.PDU(), PrevEvents: b.prev, Redacts: ev.Redacts(),
	}
	if typ == "m.room.member" {
		ne.Membership = membershipOf(content)
	}
	ne.RelatesTo, ne.RelType = relationOf(content)
	if t, ok := ev.StateTuple(); ok {
		b.state[t] = ev
	}
	b.prev = []string{ev.EventID()}
	b.built = append(b.built, ne)
	b.parsed = append(b.parsed, ev)
	return &b.built[len(b.built)-1], nil
}

func membershipOf(content json.RawMessage) string {
	var c struct {
		Membership string `json:"membership"`
	}
	_ = json.Unmarshal(content, &c)
	return c.Membership
}

// relationOf extracts m.relates_to's event_id and rel_type.
func relationOf(content json.RawMessage) (eventID, relType string) {
	var c struct {
		RelatesTo *struct {
			EventID string `json:"event_id"`
			RelType string `json:"rel_type"`
		} `json:"m.relates_to"`
	}
	if json.Unmarshal(content, &c) != nil || c.RelatesTo == nil {
		return "", ""
	}
	return c.RelatesTo.EventID, c.RelatesTo.RelType
}
