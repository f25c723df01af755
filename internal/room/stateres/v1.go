package stateres

import (
	"bytes"
	"context"
	"crypto/sha1"
	"fmt"
	"sort"

	"chappe.eu/chappe/internal/room/auth"
	"chappe.eu/chappe/internal/room/event"
)

// resolveV1 implements the state resolution of rooms/v1.md. R starts as the
// union of the states without the conflicting events; then the conflicts of
// m.room.power_levels, of m.room.join_rules and of m.room.member are each
// resolved by walking their events from the oldest and keeping the last one
// of the longest run that the authorization rules allow in R; every other
// conflict goes to the newest event that is allowed in R.
//
// Conflicts of one kind are resolved independently of each other (one key
// per m.room.member user), each against R as it was after the previous kind,
// as Synapse does; the spec's "Repeat the above process for conflicts between
// m.room.member events" does not say whether the members form one list, and
// one list would let one user's conflict end the resolution of the others.
func resolveV1(ctx context.Context, v *event.RoomVersion, states []StateMap, load EventLoader) (StateMap, error) {
	unconflicted, conflicted := separateV1(states)
	if len(conflicted) == 0 {
		return unconflicted, nil
	}
	g := newGraph(ctx, load)
	all := make(map[string]struct{})
	for _, id := range unconflicted {
		all[id] = struct{}{}
	}
	for _, ids := range conflicted {
		for _, id := range ids {
			all[id] = struct{}{}
		}
	}
	ids := sortedIDs(all)
	if _, err := g.loadEvents(ids); err != nil {
		return nil, err
	}
	for _, id := range ids {
		if g.missing[id] {
			return nil, fmt.Errorf("%w: %s (in a state)", ErrMissingEvent, id)
		}
	}
	if err := checkStates(g, states); err != nil {
		return nil, err
	}
	if err := checkOneRoom(g); err != nil {
		return nil, err
	}
	ev := func(id string) *event.Event { n, _ := g.node(id); return g.events[n] }

	R := make(auth.StateMap, len(unconflicted)+len(conflicted))
	for k, id := range unconflicted {
		R[k] = ev(id)
	}
	keys := make([]event.StateKeyTuple, 0, len(conflicted))
	for k := range conflicted {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].Type != keys[j].Type {
			return keys[i].Type < keys[j].Type
		}
		return keys[i].StateKey < keys[j].StateKey
	})
	events := func(k event.StateKeyTuple) []*event.Event {
		out := make([]*event.Event, len(conflicted[k]))
		for i, id := range conflicted[k] {
			out[i] = ev(id)
		}
		return out
	}

	phases := []func(event.StateKeyTuple) bool{
		func(k event.StateKeyTuple) bool { return k == powerLevelsKey },
		func(k event.StateKeyTuple) bool { return k.Type == "m.room.join_rules" },
		func(k event.StateKeyTuple) bool { return k.Type == "m.room.member" },
	}
	done := make(map[event.StateKeyTuple]bool, len(keys))
	for _, inPhase := range phases {
		chosen := make(auth.StateMap)
		for _, k := range keys {
			if done[k] || !inPhase(k) {
				continue
			}
			done[k] = true
			chosen[k] = resolveAuthConflictV1(R, k, events(k))
		}
		for k, e := range chosen {
			R[k] = e
		}
	}
	chosen := make(auth.StateMap)
	for _, k := range keys {
		if done[k] {
			continue
		}
		// The spec says nothing of a conflict none of whose events is
		// allowed in R; the key is then left out of the result. (Synapse
		// keeps the oldest event instead.)
		if e := resolveOtherConflictV1(R, events(k)); e != nil {
			chosen[k] = e
		}
	}
	for k, e := range chosen {
		R[k] = e
	}

	out := make(StateMap, len(R))
	for k, e := range R {
		out[k] = e.EventID()
	}
	return out, nil
}

// separateV1 splits states as room version 1 defines conflicts: a key is
// conflicted only when states hold it with different events; a key that some
// states lack is not.
func separateV1(states []StateMap) (StateMap, map[event.StateKeyTuple][]string) {
	unconflicted := make(StateMap)
	conflicted := make(map[event.StateKeyTuple][]string)
	for _, s := range states {
		for k, id := range s {
			if id == "" {
				continue
			}
			if ids, ok := conflicted[k]; ok {
				dup := false
				for _, c := range ids {
					dup = dup || c == id
				}
				if !dup {
					conflicted[k] = append(ids, id)
				}
				continue
			}
			if u, ok := unconflicted[k]; ok && u != id {
				conflicted[k] = []string{u, id}
				delete(unconflicted, k)
				continue
			}
			unconflicted[k] = id
		}
	}
	return unconflicted, conflicted
}

// resolveAuthConflictV1 resolves the conflict at key k between events that
// affect authorization: sorted by ascending depth then descending
// sha1(event_id), the first is taken and each next one replaces it while the
// rules allow it in R. R is left as it was.
func resolveAuthConflictV1(R auth.StateMap, k event.StateKeyTuple, events []*event.Event) *event.Event {
	sortV1(events, false)
	old, had := R[k]
	defer func() {
		if had {
			R[k] = old
		} else {
			delete(R, k)
		}
	}()
	cur := events[0]
	for _, e := range events[1:] {
		R[k] = cur
		if auth.Check(e, R) != nil {
			break
		}
		cur = e
	}
	return cur
}

// resolveOtherConflictV1 returns the event with the highest depth and lowest
// sha1(event_id) that the rules allow in R, or nil.
func resolveOtherConflictV1(R auth.StateMap, events []*event.Event) *event.Event {
	sortV1(events, true)
	for _, e := range events {
		if auth.Check(e, R) == nil {
			return e
		}
	}
	return nil
}

// sortV1 sorts by depth (ascending, or descending when newestFirst), then by
// sha1(event_id) the other way round: descending when oldest first, as the
// spec's two orders are each other's reverse.
func sortV1(events []*event.Event, newestFirst bool) {
	sums := make(map[*event.Event][sha1.Size]byte, len(events))
	for _, e := range events {
		sums[e] = sha1.Sum([]byte(e.EventID()))
	}
	sort.Slice(events, func(i, j int) bool {
		a, b := events[i], events[j]
		if a.Depth() != b.Depth() {
			return (a.Depth() < b.Depth()) != newestFirst
		}
		sa, sb := sums[a], sums[b]
		return (bytes.Compare(sa[:], sb[:]) > 0) != newestFirst
	})
}
