package store

import (
	"cmp"
	"slices"
	"sync"
)

// Room tails: the latest events of the rooms that had events since the
// process started, kept in memory as they commit, so that an incremental
// /sync — which asks each room with news for the few events after its
// token — reads its timeline without a query. Synapse's event cache and
// stream change cache spare it the same reads.
//
// A tail holds every event of its room after its position `after`. Events
// enter at the end of the transaction that stored them (wtx.settle), before
// the change log releases the room's key; while a transaction that adds to
// a room is in flight, the room's key is pending and RoomEvents reads the
// store. So a reader never misses an event at a position it may ask for.
// A redaction updates the tail in the same way.
//
// Like the change log, tails are per process: right as long as one
// process writes the database.

const (
	maxTailEvents = 64       // per room; past it the older half goes
	maxTailRooms  = 10_000   // past it, and
	maxTailBytes  = 32 << 20 // past this many bytes (tailSize), every tail goes
)

// tailSize is what an event costs a tail: its PDU and about the size of
// its StoredEvent (its strings are shared with the stored event).
func tailSize(e StoredEvent) int { return len(e.PDU) + 128 }

type roomTails struct {
	mu    sync.Mutex
	rooms map[string]*roomTail
	bytes int
}

type roomTail struct {
	after int64         // every event of the room after this position is in evs
	evs   []StoredEvent // by ascending position
}

// tailRedaction is a redaction a transaction stored: the event by redacts
// the event target of the room, unless another redaction did first.
type tailRedaction struct {
	roomID, target, by string
}

// add appends a committed transaction's events to their rooms' tails and
// applies its redactions.
func (t *roomTails) add(evs []StoredEvent, redactions []tailRedaction) {
	if len(evs) == 0 && len(redactions) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.rooms == nil {
		t.rooms = map[string]*roomTail{}
	}
	for _, e := range evs {
		rt := t.rooms[e.RoomID]
		switch {
		case e.Version == "":
			t.drop(e.RoomID) // unservable without its room version
			continue
		case rt == nil:
			if len(t.rooms) >= maxTailRooms {
				t.reset()
			}
			rt = &roomTail{after: e.StreamPos - 1}
			t.rooms[e.RoomID] = rt
		case e.StreamPos <= rt.last():
			// Out of order (concurrent writers on PostgreSQL): the tail
			// can't tell what it misses.
			t.drop(e.RoomID)
			continue
		}
		rt.evs = append(rt.evs, e)
		t.bytes += tailSize(e)
		if len(rt.evs) > maxTailEvents {
			half := len(rt.evs) / 2
			for _, old := range rt.evs[:half] {
				t.bytes -= tailSize(old)
			}
			rt.after = rt.evs[half-1].StreamPos
			rt.evs = slices.Clone(rt.evs[half:])
		}
	}
	for _, r := range redactions {
		rt := t.rooms[r.roomID]
		if rt == nil {
			continue
		}
		for i := range rt.evs {
			if rt.evs[i].EventID == r.target && rt.evs[i].RedactedBy == "" {
				rt.evs[i].RedactedBy = r.by
			}
		}
	}
	if t.bytes > maxTailBytes {
		t.reset()
	}
}

func (rt *roomTail) last() int64 {
	if len(rt.evs) == 0 {
		return rt.after
	}
	return rt.evs[len(rt.evs)-1].StreamPos
}

func (t *roomTails) drop(roomID string) {
	if rt := t.rooms[roomID]; rt != nil {
		for _, e := range rt.evs {
			t.bytes -= tailSize(e)
		}
		delete(t.rooms, roomID)
	}
}

func (t *roomTails) reset() {
	clear(t.rooms)
	t.bytes = 0
}

// events answers RoomEvents from the room's tail if it holds every event
// of (from, to]. The caller has checked that no transaction adding to the
// room is in flight.
func (t *roomTails) events(roomID string, from, to int64, limit int, backwards bool) ([]StoredEvent, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	rt := t.rooms[roomID]
	if rt == nil || from < rt.after || limit <= 0 {
		return nil, false
	}
	// The events in range are evs[lo:hi].
	byPos := func(e StoredEvent, p int64) int { return cmp.Compare(e.StreamPos, p) }
	lo, _ := slices.BinarySearchFunc(rt.evs, from+1, byPos)
	hi, _ := slices.BinarySearchFunc(rt.evs, to+1, byPos)
	if lo >= hi {
		return nil, true
	}
	var out []StoredEvent
	if backwards {
		out = make([]StoredEvent, 0, min(limit, hi-lo))
		for i := hi - 1; i >= lo && len(out) < limit; i-- {
			out = append(out, rt.evs[i])
		}
	} else {
		out = slices.Clone(rt.evs[lo:min(hi, lo+limit)])
	}
	return out, true
}
