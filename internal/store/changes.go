package store

import (
	"context"
	"sync"
)

// The change log: for a few streams a /sync reads on every call (account
// data, push rules, to-device messages, presence, device lists), the
// position of each key's latest change, kept in memory, so that a /sync
// can skip the query of a stream that did not move since its token — most
// of them, most of the time. Synapse keeps the same kind of cache
// (StreamChangeCache).
//
// A write transaction names the keys it changes (wtx.touch) before it
// commits; until the commit or rollback is over the keys count as changed
// at every position, so a /sync that reads the stream position between
// the commit and the update of the log still reads the store. Positions at
// or before the log's floor (the stream position when the database was
// opened, or when the log was last emptied) are unknown: the process did
// not see those writes.
//
// The log is per process, which is right as long as one process writes
// the database. The caches of caches.go are kept valid by it too.

// Change keys.
const (
	keyDeviceLists = "devicelists" // any device list change row
	keyMembers     = "members"     // any membership event
	keyPresence    = "presence"    // any presence change with a position
	keyRedactions  = "redactions"  // any redaction
)

func keyAccountData(userID string) string { return "accountdata\x00" + userID }
func keyPushRules(userID string) string   { return "pushrules\x00" + userID }
func keyToDevice(userID string) string    { return "todevice\x00" + userID }

// keyRooms: the user's memberships and forgotten rooms.
func keyRooms(userID string) string { return "rooms\x00" + userID }

// keyDeviceKeys: a device's one-time and fallback keys.
func keyDeviceKeys(userID, deviceID string) string {
	return "devicekeys\x00" + userID + "\x00" + deviceID
}

// keyRoom: any event or receipt in the room.
func keyRoom(roomID string) string { return "room\x00" + roomID }

// keyRoomMembers: any membership event in the room.
func keyRoomMembers(roomID string) string { return "members\x00" + roomID }

// keyRoomReceipts: any receipt in the room.
func keyRoomReceipts(roomID string) string { return "receipts\x00" + roomID }

// keyUnread: the user's unread counts in the room.
func keyUnread(userID, roomID string) string { return "unread\x00" + userID + "\x00" + roomID }

// keyRelations: the events that relate to an event.
func keyRelations(eventID string) string { return "relations\x00" + eventID }

// keyPresenceOf: the user's presence row.
func keyPresenceOf(userID string) string { return "presenceof\x00" + userID }

// keyState: the events that set one piece of a room's state.
func keyState(roomID, typ, stateKey string) string {
	return "state\x00" + roomID + "\x00" + typ + "\x00" + stateKey
}

// keySessions: any access token or account (wtx.ExecContext touches it).
const keySessions = "sessions"

// maxChangeKeys bounds the log; past it the log empties and its floor
// rises to the newest position it knew.
const maxChangeKeys = 100_000

type changeLog struct {
	mu      sync.Mutex
	floor   int64
	last    map[string]int64
	pending map[string]int
	// committed is the stream position of the last commit: every position
	// up to it is stored. It moves only after the keys of the commit are
	// settled.
	committed int64
	// acks is, per device, the position up to which its to-device
	// messages were deleted (AckToDevice).
	acks map[string]int64
	// firstPos holds the first position of each transaction in flight
	// that took positions. Positions are taken in commit order, but the
	// transactions settle in any order.
	firstPos map[int64]bool
}

// tookFirstPos records that a transaction took its first position.
func (c *changeLog) tookFirstPos(pos int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.firstPos == nil {
		c.firstPos = map[int64]bool{}
	}
	c.firstPos[pos] = true
}

// settledUpTo reports whether every transaction that took a position at
// or before pos has settled.
func (c *changeLog) settledUpTo(pos int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for p := range c.firstPos {
		if p <= pos {
			return false
		}
	}
	return true
}

func (c *changeLog) lastAck(userID, deviceID string) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.acks[userID+"\x00"+deviceID]
	return p, ok
}

func (c *changeLog) recordAck(userID, deviceID string, upto int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.acks == nil || len(c.acks) > maxChangeKeys {
		c.acks = map[string]int64{}
	}
	k := userID + "\x00" + deviceID
	c.acks[k] = max(c.acks[k], upto)
}

func (c *changeLog) begin(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending == nil {
		c.pending = map[string]int{}
	}
	c.pending[key]++
}

// end settles keys a transaction began: committed at pos, or rolled back
// (committed false). firstPos is the first position it took, 0 if none.
func (c *changeLog) end(keys []string, firstPos, pos int64, committed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.firstPos, firstPos)
	if committed && pos > c.committed {
		c.committed = pos
	}
	if committed && pos == 0 {
		// A write that took no position (a key upload, a login) is a
		// change after every position known now: caches read before it
		// are stale, and a stream position taken later covers it.
		pos = c.committed + 1
	}
	if len(keys) == 0 {
		return
	}
	if c.last == nil {
		c.last = map[string]int64{}
	}
	for _, k := range keys {
		if c.pending[k]--; c.pending[k] <= 0 {
			delete(c.pending, k)
		}
		if committed && pos > c.last[k] {
			c.last[k] = pos
		}
	}
	if len(c.last) > maxChangeKeys {
		for _, p := range c.last {
			c.floor = max(c.floor, p)
		}
		clear(c.last)
	}
}

func (c *changeLog) committedPos() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.committed
}

func (c *changeLog) changedSince(key string, since int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changedSinceLocked(key, since)
}

// onlyChangeSince reports whether a transaction that touched key own
// times and has not settled is the only change of key after position
// since: none committed after it, no other in flight.
func (c *changeLog) onlyChangeSince(key string, own int, since int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return since >= c.floor && c.pending[key] == own && c.last[key] <= since
}

// inFlight reports whether a transaction that changes key is in flight.
func (c *changeLog) inFlight(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pending[key] > 0
}

func (c *changeLog) changedSinceLocked(key string, since int64) bool {
	return since < c.floor || c.pending[key] > 0 || c.last[key] > since
}

// startChangeLog sets the floor and the committed position to the
// current stream position.
func (db *DB) startChangeLog(ctx context.Context) error {
	var pos int64
	if err := db.read.QueryRowContext(ctx, `SELECT pos FROM stream_counter WHERE id = 1`).Scan(&pos); err != nil {
		return err
	}
	db.changes.mu.Lock()
	db.changes.floor = pos
	db.changes.committed = pos
	db.changes.mu.Unlock()
	return nil
}

// ForgetChanges makes the change log forget what it knows: every key
// counts as changed at every position stored so far, so caches read the
// store again; the room tails, which the log does not guard, go too. For
// a write the process did not make (a test's, or an operator's by hand).
func (db *DB) ForgetChanges() {
	c := &db.changes
	c.mu.Lock()
	c.floor = c.committed + 1
	clear(c.last)
	clear(c.acks)
	c.mu.Unlock()
	t := &db.caches.tails
	t.mu.Lock()
	t.reset()
	t.mu.Unlock()
}

// touch records that the transaction changes key.
func (tx *wtx) touch(key string) {
	tx.changes.begin(key)
	tx.touched = append(tx.touched, key)
}

// settle ends the transaction's part in the change log. The caches take
// what it stored first (txnotes.go), while its keys are still pending.
func (tx *wtx) settle(committed bool) {
	if committed {
		tx.caches.tails.add(tx.notes.appended, tx.notes.redactions)
		tx.settleUnread(tx.pos)
	}
	tx.changes.end(tx.touched, tx.firstPos, tx.pos, committed)
	tx.touched, tx.notes, tx.firstPos = nil, txNotes{}, 0
}

// AccountDataChangedSince reports whether the user's account data may
// have changed after position since; false means AccountDataSince would
// find nothing.
func (db *DB) AccountDataChangedSince(userID string, since int64) bool {
	return db.changes.changedSince(keyAccountData(userID), since)
}

// PushRulesChangedSince reports whether the user's push rules may have
// changed after position since.
func (db *DB) PushRulesChangedSince(userID string, since int64) bool {
	return db.changes.changedSince(keyPushRules(userID), since)
}

// ToDeviceSentSince reports whether a to-device message may have been
// sent to one of the user's devices after position since.
func (db *DB) ToDeviceSentSince(userID string, since int64) bool {
	return db.changes.changedSince(keyToDevice(userID), since)
}

// PresenceChangedAfter reports whether anyone's presence may have changed
// after position since.
func (db *DB) PresenceChangedAfter(since int64) bool {
	return db.changes.changedSince(keyPresence, since)
}

// MembersChangedSince reports whether any membership may have changed
// after position since.
func (db *DB) MembersChangedSince(since int64) bool {
	return db.changes.changedSince(keyMembers, since)
}

// DeviceListsChangedSince reports whether anyone's device list may have
// changed after position since.
func (db *DB) DeviceListsChangedSince(since int64) bool {
	return db.changes.changedSince(keyDeviceLists, since)
}

// validFrom returns the position from which a cached read of key is still
// valid: one read at or after it saw every change; ok is false while a
// change is in flight.
func (c *changeLog) validFrom(key string) (pos int64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return max(c.floor, c.last[key]), c.pending[key] == 0
}

// knows reports whether the log has seen every change after position
// since.
func (c *changeLog) knows(since int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return since >= c.floor
}

// anyChangedSince reports whether any of the keys changed after since.
func (c *changeLog) anyChangedSince(keys []string, since int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		if c.changedSinceLocked(k, since) {
			return true
		}
	}
	return false
}
