package rooms

import (
	"context"
	"sync"

	"chappe.eu/chappe/internal/room/event"
	"chappe.eu/chappe/internal/store"
)

// head is what the next local event of a room builds on: its latest
// events, their depth and the room's current state. Sending reads it from
// memory instead of from the store, so a send costs one write transaction
// and no reads.
//
// A head is read and changed only under its room's lock, and forgotten
// whenever a write to the room fails or bypasses Send, so that it is
// reloaded from the store. With several processes writing to one room it
// would go stale; multi-process writes need the room lock in the database
// and a reload under it (see the package comment).
type head struct {
	prev  []string
	depth int64
	state map[[2]string]string // current state: (type, state_key) -> event ID
}

// maxHeads bounds the rooms whose heads are kept.
const maxHeads = 5000

type heads struct {
	mu sync.Mutex // guards m
	m  map[string]*head
}

func (h *heads) get(roomID string) *head {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.m[roomID]
}

func (h *heads) put(roomID string, hd *head) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.m) >= maxHeads {
		for k := range h.m { // drop an arbitrary tenth
			delete(h.m, k)
			if len(h.m) < maxHeads*9/10 {
				break
			}
		}
	}
	h.m[roomID] = hd
}

func (h *heads) forget(roomID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.m, roomID)
}

// loadHead returns the room's head, reading it from the store if it is not
// cached. The caller holds the room lock.
func (s *Service) loadHead(ctx context.Context, roomID string) (*head, error) {
	if h := s.heads.get(roomID); h != nil {
		return h, nil
	}
	prev, err := s.db.ForwardExtremities(ctx, roomID)
	if err != nil {
		return nil, err
	}
	depth, err := s.db.MaxDepth(ctx, prev)
	if err != nil {
		return nil, err
	}
	state, err := s.db.CurrentStateIDs(ctx, roomID, nil)
	if err != nil {
		return nil, err
	}
	h := &head{prev: prev, depth: depth, state: state}
	s.heads.put(roomID, h)
	return h, nil
}

// advanceHead records events stored in the room by a builder that started
// from h. The caller holds the room lock.
func (h *head) advance(b *builder, built []store.NewEvent) {
	h.prev, h.depth = b.prev, b.depth
	for _, e := range built {
		if e.StateKey != nil {
			h.state[[2]string{e.Type, *e.StateKey}] = e.EventID
		}
	}
}

// authState returns the events of the head's state that the rules need
// for an event with the given auth tuples, plus the create event.
func (s *Service) authState(ctx context.Context, h *head, tuples []event.StateKeyTuple) (map[event.StateKeyTuple]*event.Event, error) {
	keys := make([][2]string, 0, len(tuples)+1)
	keys = append(keys, [2]string{"m.room.create", ""}) // always: v12 needs it though it is never cited
	for _, t := range tuples {
		keys = append(keys, [2]string{t.Type, t.StateKey})
	}
	ids := make([]string, 0, len(keys))
	for _, k := range keys {
		if id, ok := h.state[k]; ok {
			ids = append(ids, id)
		}
	}
	evs, err := s.Events(ctx, ids)
	if err != nil {
		return nil, err
	}
	state := make(map[event.StateKeyTuple]*event.Event, len(evs))
	for _, k := range keys {
		if e := evs[h.state[k]]; e != nil {
			state[event.StateKeyTuple{Type: k[0], StateKey: k[1]}] = e.Event
		}
	}
	return state, nil
}
