// Package presence keeps local users' presence ("Presence"): online,
// unavailable or offline, a status message, when they were last active,
// and whether they are currently active. The client API sets it (PUT
// /presence, sending messages, typing), /sync keeps it alive (set_presence)
// and serves it, and a background loop applies the timeouts.
//
// The rules are Synapse's (synapse/handlers/presence.py), simplified to
// what one homeserver without federation needs:
//
//   - A /sync with set_presence=online (the default) brings an offline
//     user online; one with unavailable makes them unavailable; offline
//     leaves their presence alone and does not keep them connected.
//   - Activity (PUT /presence online, sending an event, typing) sets
//     last_active and brings an unavailable user back online.
//   - Online with no activity for IdleAfter (5 min) becomes unavailable.
//   - Neither syncing nor active for OfflineAfter (30 s) after the last
//     /sync may have ended becomes offline. Nothing is kept in memory: a
//     /sync records until when it may wait (rounded up by a minute, so a
//     client that syncs continuously costs one write a minute), so any
//     process can judge any user; a user who stops syncing goes offline
//     30 to 90 s after their last /sync ends, not exactly 30 s.
//   - currently_active is true while online and active within the last
//     ActiveWindow (1 min); while it stays true, newer activity is stored
//     without telling anyone (the spec's way to save updates), and its
//     end is a change clients hear of.
//
// Every change clients must hear of takes a position from the global
// stream and wakes the /syncs of the user and of everyone sharing a room
// with them.
package presence

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"chappe.eu/chappe/internal/store"
)

// The states of the spec's presence enum.
const (
	Online      = "online"
	Unavailable = "unavailable"
	Offline     = "offline"
)

// Timeouts (Synapse: IDLE_TIMER, LAST_ACTIVE_GRANULARITY,
// SYNC_ONLINE_TIMEOUT).
const (
	IdleAfter    = 5 * time.Minute
	ActiveWindow = time.Minute
	OfflineAfter = 30 * time.Second
	// syncSlack rounds the recorded end of a /sync up, to write it at
	// most about once a minute for a client that syncs continuously.
	syncSlack = time.Minute
	// bumpGranularity: newer activity that tells nobody anything is
	// written at most this often.
	bumpGranularity = 10 * time.Second
	// reapInterval is how often timeouts are applied (Synapse: 5 s).
	reapInterval = 5 * time.Second
)

// MaxStatusMsgLen caps status_msg, in bytes. NOTSPEC: the spec sets no
// limit and Synapse has none, but every presence change is copied to
// everyone sharing a room with the user: a status is a line of text, not
// a document.
const MaxStatusMsgLen = 1024

// Notifier wakes waiting /syncs (syncapi.Notifier).
type Notifier interface {
	NotifyRoom(pos int64, roomID string)
	NotifyUser(pos int64, userID string)
}

// Service applies the presence rules over the store.
type Service struct {
	db     *store.DB
	notify Notifier
	log    *slog.Logger

	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

// New returns the presence service and starts applying timeouts in the
// background until Close. Several processes may each run one: a timeout
// is re-checked inside the transaction that applies it.
func New(db *store.DB, n Notifier, log *slog.Logger) *Service {
	s := &Service{db: db, notify: n, log: log, stop: make(chan struct{}), done: make(chan struct{})}
	go s.loop()
	return s
}

// Close stops the background loop and waits for it.
func (s *Service) Close() {
	s.stopOnce.Do(func() { close(s.stop) })
	<-s.done
}

func (s *Service) loop() {
	defer close(s.done)
	t := time.NewTicker(reapInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), reapInterval)
			if err := s.applyTimeouts(ctx, time.Now().UnixMilli()); err != nil {
				s.log.Warn("presence timeouts", "err", err)
			}
			cancel()
		}
	}
}

// applyTimeouts applies the idle, inactive and offline timeouts as of now.
func (s *Service) applyTimeouts(ctx context.Context, now int64) error {
	users, err := s.db.PresenceTimeoutCandidates(ctx, now-OfflineAfter.Milliseconds(), now-IdleAfter.Milliseconds(), now-ActiveWindow.Milliseconds())
	if err != nil {
		return err
	}
	for _, u := range users {
		if err := s.update(ctx, u, func(p *store.Presence) { timeouts(p, now) }); err != nil {
			return err
		}
	}
	return nil
}

// Set is PUT /presence/{userId}/status: the user's chosen state and status
// message (nil clears it, as in Synapse).
func (s *Service) Set(ctx context.Context, userID, state string, statusMsg *string) error {
	now := time.Now().UnixMilli()
	return s.update(ctx, userID, func(p *store.Presence) { set(p, state, statusMsg, now) })
}

// Active records a pro-active action of the user: sending an event,
// typing.
func (s *Service) Active(ctx context.Context, userID string) error {
	now := time.Now().UnixMilli()
	return s.update(ctx, userID, func(p *store.Presence) { active(p, now) })
}

// Syncing records that the user's /sync, with its set_presence ("" is
// online), may wait up to timeout.
func (s *Service) Syncing(ctx context.Context, userID, setPresence string, timeout time.Duration) error {
	if setPresence == Offline {
		return nil
	}
	now := time.Now().UnixMilli()
	return s.update(ctx, userID, func(p *store.Presence) { syncing(p, setPresence, now, timeout) })
}

// Get returns the user's presence: offline if never set.
func (s *Service) Get(ctx context.Context, userID string) (store.Presence, error) {
	p, err := s.db.PresenceOf(ctx, userID)
	if err == store.ErrNotFound {
		return store.Presence{UserID: userID, State: Offline}, nil
	}
	return p, err
}

// update applies f in a transaction and wakes whoever must hear of it.
// Most calls (a /sync, a message sent while currently active) change
// nothing worth writing: they are found out by a read, without taking the
// write lock.
func (s *Service) update(ctx context.Context, userID string, f func(p *store.Presence)) error {
	if p, err := s.db.PresenceOf(ctx, userID); err == nil {
		q := p
		f(&q)
		if classify(p, q) == store.PresenceUnchanged {
			return nil
		}
	} else if err != store.ErrNotFound {
		return err
	}
	_, pos, err := s.db.UpdatePresence(ctx, userID, func(p *store.Presence) store.PresenceChange {
		before := *p
		f(p)
		return classify(before, *p)
	})
	if err != nil || pos == 0 {
		return err
	}
	rooms, err := s.db.UserRooms(ctx, userID)
	if err != nil {
		return err
	}
	for _, r := range rooms {
		if r.Membership == "join" {
			s.notify.NotifyRoom(pos, r.RoomID)
		}
	}
	s.notify.NotifyUser(pos, userID)
	return nil
}

// classify says how after differs from before: in something clients see
// (state, status message, currently_active), only in what is kept for
// later, or not at all. Activity newer by less than bumpGranularity alone
// is not worth a write.
func classify(before, after store.Presence) store.PresenceChange {
	msg := func(p store.Presence) string {
		if p.StatusMsg == nil {
			return "\x00nil"
		}
		return *p.StatusMsg
	}
	switch {
	case before.State != after.State || msg(before) != msg(after) || before.CurrentlyActive != after.CurrentlyActive:
		return store.PresenceNotify
	case before.SyncUntilTS != after.SyncUntilTS ||
		after.LastActiveTS-before.LastActiveTS >= bumpGranularity.Milliseconds() ||
		after.LastActiveTS < before.LastActiveTS:
		return store.PresenceSilent
	}
	return store.PresenceUnchanged
}

func recentlyActive(p *store.Presence, now int64) bool {
	return p.State == Online && now-p.LastActiveTS < ActiveWindow.Milliseconds()
}

// set is PUT /presence: setting online counts as activity.
func set(p *store.Presence, state string, statusMsg *string, now int64) {
	p.State, p.StatusMsg = state, statusMsg
	if state == Online {
		p.LastActiveTS = now
	}
	p.CurrentlyActive = recentlyActive(p, now)
}

// active is a pro-active action. An offline user stays offline (they are
// not connected, or chose to be seen offline), as in Synapse.
func active(p *store.Presence, now int64) {
	if p.State == Unavailable {
		p.State = Online
	}
	p.LastActiveTS = now
	p.CurrentlyActive = recentlyActive(p, now)
}

// syncing is a /sync with set_presence online or unavailable.
func syncing(p *store.Presence, setPresence string, now int64, timeout time.Duration) {
	switch setPresence {
	case Unavailable:
		if p.State != Unavailable {
			p.State = Unavailable
			p.CurrentlyActive = false
		}
	default: // online
		// Only offline comes back online by syncing: an unavailable user
		// (idle, or by choice) stays so until they do something.
		if p.State == Offline {
			p.State, p.LastActiveTS = Online, now
			p.CurrentlyActive = true
		}
	}
	if need := now + timeout.Milliseconds(); p.SyncUntilTS < need {
		p.SyncUntilTS = need + syncSlack.Milliseconds()
	}
}

// timeouts applies the idle, inactive and offline timeouts.
func timeouts(p *store.Presence, now int64) {
	if p.State == Offline {
		return
	}
	if p.State == Online && now-p.LastActiveTS > IdleAfter.Milliseconds() {
		p.State = Unavailable
	}
	if now > max(p.SyncUntilTS, p.LastActiveTS)+OfflineAfter.Milliseconds() {
		p.State = Offline
	}
	p.CurrentlyActive = recentlyActive(p, now)
}

// Content is the content of an m.presence event for p as of now (ms).
func Content(p store.Presence, now int64) map[string]any {
	c := map[string]any{"presence": p.State}
	if p.LastActiveTS > 0 {
		c["last_active_ago"] = max(now-p.LastActiveTS, 0)
	}
	if p.StatusMsg != nil {
		c["status_msg"] = *p.StatusMsg
	}
	if p.State == Online {
		c["currently_active"] = p.CurrentlyActive
	}
	return c
}

// Event is the m.presence event of p for /sync.
func Event(p store.Presence, now int64) map[string]any {
	return map[string]any{"type": "m.presence", "sender": p.UserID, "content": Content(p, now)}
}
