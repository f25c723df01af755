// Package stateres implements the state resolution algorithms of the Matrix
// room versions: v1 (room version 1), v2 (room versions 2–11) and v2.1 (room
// version 12). Given the states of a room at the tips of a fork, Resolve
// computes the one state the room has where the forks meet.
//
// The package is pure apart from the EventLoader it is given: it reads events,
// never writes them, and keeps nothing between calls.
package stateres

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"chappe.eu/chappe/internal/room/event"
)

// StateMap maps (type, state_key) to the ID of the state event that holds it.
type StateMap map[event.StateKeyTuple]string

// EventLoader loads events by ID; the database is behind it, or a federation
// fetch. The returned map holds the events that were found: an ID that is
// absent from it is a missing event, not an error. An error aborts the
// resolution. Resolution asks for each event at most once, in batches, so
// the loader needs no cache of its own, and it must be safe to call many
// times.
type EventLoader interface {
	Events(ctx context.Context, ids []string) (map[string]*event.Event, error)
}

// RejectionLoader is an EventLoader that also knows which events were
// rejected. The iterative auth checks of v2 and v2.1 fill keys missing from
// the partial state from an event's auth events "if the auth event is not
// rejected"; when the loader does not implement RejectionLoader every auth
// event is taken as accepted. Rejected reports the rejected ones among ids;
// an ID it leaves out was accepted.
type RejectionLoader interface {
	EventLoader
	Rejected(ctx context.Context, ids []string) (map[string]bool, error)
}

// ErrMissingEvent is wrapped by the error Resolve returns when an event of
// one of the states cannot be loaded. Missing events further back (in auth
// chains) do not fail the resolution: the walk stops there, as it would at a
// server that never had them.
var ErrMissingEvent = errors.New("stateres: missing event")

// Resolve returns the resolution of states, the room's states at the tips
// of a fork, with the algorithm of room version v (v.StateRes): v1 for room
// version 1, v2 for room versions 2 to 11 and v2.1 for room version 12.
//
// Each StateMap must be a complete room state (the m.room.create event
// included). The result does not depend on the order of states, nor on the
// order in which the loader returns events. With no conflict between the
// states no event is loaded. Resolve does not modify states; the result is
// a new map.
func Resolve(ctx context.Context, v *event.RoomVersion, states []StateMap, load EventLoader) (StateMap, error) {
	if v == nil {
		return nil, errors.New("stateres: no room version")
	}
	switch len(states) {
	case 0:
		return StateMap{}, nil
	case 1:
		return clone(states[0]), nil
	}
	switch v.StateRes {
	case 1:
		return resolveV1(ctx, v, states, load)
	case 2, 21:
		return resolveV2(ctx, v, states, load)
	}
	return nil, fmt.Errorf("stateres: room version %s: unknown state resolution algorithm %d", v.ID, v.StateRes)
}

// checkStates verifies that every event of states is a state event for the
// key it is at: resolution reads the key from the event.
func checkStates(g *graph, states []StateMap) error {
	for _, s := range states {
		for k, id := range s {
			n, _ := g.node(id)
			if got, ok := g.events[n].StateTuple(); !ok || got != k {
				return fmt.Errorf("stateres: event %s is in a state at (%s, %q) but is not a state event for it", id, k.Type, k.StateKey)
			}
		}
	}
	return nil
}

// checkOneRoom verifies that every loaded event is in the same room (the
// v12 create event, which has no room_id, aside): an auth chain that leaves
// the room is an attack or a broken store, and resolving across it would
// mix two rooms' states.
func checkOneRoom(g *graph) error {
	roomID := ""
	for _, ev := range g.events {
		if ev.RoomID() == "" && ev.Type() == "m.room.create" && ev.Version().PrivilegedCreators {
			continue
		}
		if roomID == "" {
			roomID = ev.RoomID()
		} else if ev.RoomID() != roomID {
			return fmt.Errorf("stateres: event %s is in room %q, not %q", ev.EventID(), ev.RoomID(), roomID)
		}
	}
	return nil
}

func clone(s StateMap) StateMap {
	out := make(StateMap, len(s))
	for k, id := range s {
		out[k] = id
	}
	return out
}

// sortedIDs returns the distinct IDs of set in ascending order, so that what
// is derived from a Go map does not depend on its iteration order.
func sortedIDs(set map[string]struct{}) []string {
	ids := make([]string, 0, len(set))
	for id := range set {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}
