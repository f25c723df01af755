// Package typing keeps who is typing in which room ("Typing
// Notifications"), in memory: typing notifications are ephemeral, never
// stored, and lost on restart like Synapse's.
//
// Every change (a user starts or stops typing, or their timeout expires)
// takes the next serial of the tracker's own counter, the typing part of
// /sync's token. A room remembers the serial of its last change, so /sync
// sends a room's m.typing exactly when it changed after the client's token.
//
// The counter starts at the process's start time in milliseconds, so that
// tokens handed out by an earlier run are below Epoch and /sync can tell
// them apart from tokens of this run (Synapse starts at 0 and cannot).
//
// With several processes, typing will travel over the message bus (NATS):
// the process that receives PUT /typing publishes the change, and every
// process applies it to its own Tracker and wakes its own /syncs; the
// serials then become per-origin positions in a multi-part token. Until
// then one process serves all typing.
package typing

import (
	"slices"
	"sync"
	"time"
)

// Notifier wakes the /syncs of a room's members (syncapi.Notifier).
type Notifier interface {
	NotifyRoom(pos int64, roomID string)
}

// Tracker is the typing state of every room of one process. The zero
// value is not usable; use New.
type Tracker struct {
	notify Notifier
	epoch  int64

	mu    sync.Mutex // guards everything below
	pos   int64
	rooms map[string]*roomTyping
}

// roomTyping is one room's typists. Entries stay when the room's last
// typist stops: changed must outlive them, or a client whose token is
// older would never hear that they stopped. An entry costs a few dozen
// bytes a room.
type roomTyping struct {
	changed int64
	typists map[string]*typist
}

type typist struct {
	timer *time.Timer
}

// New returns an empty tracker that wakes rooms through n.
func New(n Notifier) *Tracker {
	now := time.Now().UnixMilli()
	return &Tracker{notify: n, epoch: now, pos: now, rooms: map[string]*roomTyping{}}
}

// Epoch is the first serial of this tracker: a token below it was handed
// out by an earlier run of the server, whose typing state is gone.
func (t *Tracker) Epoch() int64 { return t.epoch }

// Pos is the serial of the latest change. Read it before reading rooms, so
// that a change racing with the read is sent again rather than lost.
func (t *Tracker) Pos() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pos
}

// Set records that userID is typing in roomID for the next timeout, or,
// with typing false, that they stopped. Telling again that one is typing
// extends the timeout without a change for clients to hear of, as in
// Synapse. Callers check that the user may type in the room.
func (t *Tracker) Set(roomID, userID string, typing bool, timeout time.Duration) {
	t.mu.Lock()
	r := t.rooms[roomID]
	if r == nil {
		r = &roomTyping{typists: map[string]*typist{}}
		t.rooms[roomID] = r
	}
	old := r.typists[userID]
	if old != nil {
		old.timer.Stop()
		delete(r.typists, userID)
	}
	if typing {
		tp := &typist{}
		tp.timer = time.AfterFunc(timeout, func() { t.expire(roomID, userID, tp) })
		r.typists[userID] = tp
	}
	changed := (old != nil) != typing
	if changed {
		t.pos++
		r.changed = t.pos
	}
	t.mu.Unlock()
	if changed {
		// 0: typing serials are not event stream positions; the notifier
		// only wakes the room.
		t.notify.NotifyRoom(0, roomID)
	}
}

// expire ends tp's typing, unless a later Set replaced it.
func (t *Tracker) expire(roomID, userID string, tp *typist) {
	t.mu.Lock()
	r := t.rooms[roomID]
	if r == nil || r.typists[userID] != tp {
		t.mu.Unlock()
		return
	}
	delete(r.typists, userID)
	t.pos++
	r.changed = t.pos
	t.mu.Unlock()
	t.notify.NotifyRoom(0, roomID)
}

// Room returns the users typing in the room, sorted, and the serial of the
// room's last change (0 if it never had a typist in this run).
func (t *Tracker) Room(roomID string) (userIDs []string, changed int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.rooms[roomID]
	if r == nil {
		return nil, 0
	}
	userIDs = make([]string, 0, len(r.typists))
	for u := range r.typists {
		userIDs = append(userIDs, u)
	}
	slices.Sort(userIDs)
	return userIDs, r.changed
}
