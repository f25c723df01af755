// Package syncapi serves /sync: it assembles what changed for a user since
// a token and long-polls until something does. The Notifier wakes waiting
// requests within microseconds of a commit.
package syncapi

import (
	"context"
	"sync"
	"time"
)

// MembersLoader returns the users who should hear of a room's events: those
// joined or invited now.
type MembersLoader func(ctx context.Context, roomID string) ([]string, error)

// Notifier wakes waiting /sync requests of the users an event concerns.
// Each user has a generation counter that every wake-up increments: a
// /sync reads the generation before it reads the store, then waits for the
// generation to move on, so no wake-up between the read and the wait is
// lost, whatever stream it came from (events, typing, to-device…).
//
// It lives in one process's memory: with several processes, each would
// subscribe to the others' notifications over the message bus and call the
// same Notify methods.
type Notifier struct {
	loadMembers MembersLoader

	closing   chan struct{} // closed when the server shuts down
	closeOnce sync.Once

	mu    sync.Mutex // guards everything below
	pos   int64
	users map[string]*userWake
	rooms map[string]map[string]struct{} // room -> users to wake; loaded lazily
}

type userWake struct {
	gen uint64
	ch  chan struct{} // closed and replaced when gen advances
}

// NewNotifier returns a notifier starting at pos.
func NewNotifier(pos int64, loadMembers MembersLoader) *Notifier {
	return &Notifier{loadMembers: loadMembers, pos: pos, users: map[string]*userWake{}, rooms: map[string]map[string]struct{}{},
		closing: make(chan struct{})}
}

// Pos is the latest event stream position the notifier has seen.
func (n *Notifier) Pos() int64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.pos
}

// userLocked returns the user's wake state, creating it on first use.
// Entries are kept (a few dozen bytes a user who ever synced).
func (n *Notifier) userLocked(userID string) *userWake {
	u := n.users[userID]
	if u == nil {
		u = &userWake{ch: make(chan struct{})}
		n.users[userID] = u
	}
	return u
}

func (n *Notifier) wakeLocked(userID string) {
	u := n.users[userID]
	if u == nil {
		return // this user has never synced here; their first /sync reads the store
	}
	u.gen++
	close(u.ch)
	u.ch = make(chan struct{})
}

func (n *Notifier) advanceLocked(pos int64) {
	if pos > n.pos {
		n.pos = pos
	}
}

// roomUsers returns the users to wake for a room, loading them on first use.
func (n *Notifier) roomUsers(roomID string) map[string]struct{} {
	n.mu.Lock()
	users, ok := n.rooms[roomID]
	n.mu.Unlock()
	if ok {
		return users
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list, err := n.loadMembers(ctx, roomID)
	if err != nil {
		return nil // wake nobody now; waiters time out and re-read the store
	}
	users = make(map[string]struct{}, len(list))
	for _, u := range list {
		users[u] = struct{}{}
	}
	n.mu.Lock()
	if cur, ok := n.rooms[roomID]; ok {
		users = cur // someone else loaded it meanwhile, with newer changes
	} else {
		n.rooms[roomID] = users
	}
	n.mu.Unlock()
	return users
}

// NotifyRoom wakes the room's joined and invited members for something
// at pos (0 for streams without positions, such as typing).
func (n *Notifier) NotifyRoom(pos int64, roomID string) {
	users := n.roomUsers(roomID)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.advanceLocked(pos)
	for u := range users {
		n.wakeLocked(u)
	}
}

// NotifyMember records a membership change at pos and wakes the room,
// including the user whose membership changed (who may be leaving).
func (n *Notifier) NotifyMember(pos int64, roomID, userID, membership string) {
	users := n.roomUsers(roomID)
	n.mu.Lock()
	defer n.mu.Unlock()
	if users != nil {
		// Copy on write: roomUsers hands out the map without the lock.
		c := make(map[string]struct{}, len(users)+1)
		for u := range users {
			c[u] = struct{}{}
		}
		if membership == "join" || membership == "invite" {
			c[userID] = struct{}{}
		} else {
			delete(c, userID)
		}
		n.rooms[roomID] = c
		users = c
	}
	n.advanceLocked(pos)
	for u := range users {
		n.wakeLocked(u)
	}
	n.wakeLocked(userID)
}

// NotifyUser wakes one user for data of their own at pos (to-device
// messages, account data, their device list…).
func (n *Notifier) NotifyUser(pos int64, userID string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.advanceLocked(pos)
	n.wakeLocked(userID)
}

// Generation returns the user's current generation; call it before
// reading the store, then Wait with it.
func (n *Notifier) Generation(userID string) uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.userLocked(userID).gen
}

// Wait blocks until the user's generation moves past gen, or ctx ends. It
// returns whether it was woken.
func (n *Notifier) Wait(ctx context.Context, userID string, gen uint64) bool {
	n.mu.Lock()
	u := n.userLocked(userID)
	if u.gen != gen {
		n.mu.Unlock()
		return true
	}
	ch := u.ch
	n.mu.Unlock()
	select {
	case <-ch:
		return true
	case <-ctx.Done():
		return false
	case <-n.closing:
		return false
	}
}

// Close ends every wait, now and later: at shutdown, waiting /syncs answer
// at once with what they have instead of holding up the graceful stop
// until their timeout.
func (n *Notifier) Close() { n.closeOnce.Do(func() { close(n.closing) }) }
