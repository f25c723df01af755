package stateres

import (
	"context"
	"fmt"

	"chappe.eu/chappe/internal/room/auth"
	"chappe.eu/chappe/internal/room/event"
)

var (
	createKey      = event.StateKeyTuple{Type: "m.room.create", StateKey: ""}
	powerLevelsKey = event.StateKeyTuple{Type: "m.room.power_levels", StateKey: ""}
	joinRulesKey   = event.StateKeyTuple{Type: "m.room.join_rules", StateKey: ""}
)

// resolution is the work of one v2 or v2.1 resolution.
type resolution struct {
	v *event.RoomVersion
	g *graph

	// create is the room's m.room.create event when it is known for the
	// whole resolution: in v12 the one the room ID names (auth_events never
	// cite it), before v12 the one of the unconflicted state. It may be nil
	// before v12; the auth events of each event then supply it.
	create *event.Event

	rejected map[int32]bool                 // auth events the loader says were rejected
	levels   map[[2]int32]*auth.PowerLevels // (create, power levels) numbers → parsed levels
}

// resolveV2 implements the algorithm of rooms/fragments/v2-state-res.md and
// its v2.1 changes (rooms/v12.md): the iterative auth checks of the power
// events start from an empty state instead of the unconflicted state map,
// and the full conflicted set also holds the conflicted state subgraph.
func resolveV2(ctx context.Context, v *event.RoomVersion, states []StateMap, load EventLoader) (StateMap, error) {
	unconflicted, conflicted := separate(states)
	if len(conflicted) == 0 {
		return unconflicted, nil
	}
	r := &resolution{v: v, g: newGraph(ctx, load), levels: make(map[[2]int32]*auth.PowerLevels)}
	if err := r.load(states, unconflicted, conflicted); err != nil {
		return nil, err
	}
	g := r.g
	full := r.fullConflictedSet(states, unconflicted, conflicted)
	if err := r.loadRejections(full); err != nil {
		return nil, err
	}

	// Step 1: the power events of the full conflicted set, with the part of
	// their auth chains that is in the full conflicted set, in reverse
	// topological power ordering.
	powerSet := r.powerEventsAndChains(full)
	powerOrder := r.reverseTopologicalPowerOrder(powerSet)

	// Step 2: iterative auth checks from the unconflicted state map (v2) or
	// from an empty state map (v2.1).
	state := make(auth.StateMap)
	if v.StateRes == 2 {
		for k, id := range unconflicted {
			m, _ := g.node(id)
			state[k] = g.events[m]
		}
	}
	if err := r.iterativeAuthChecks(state, powerOrder); err != nil {
		return nil, err
	}

	// Step 3: the other events of the full conflicted set in mainline
	// ordering based on the partially resolved power levels.
	var rest []int32
	full.each(func(m int32) {
		if !powerSet.has(m) {
			rest = append(rest, m)
		}
	})
	r.mainlineOrder(rest, state[powerLevelsKey])

	// Step 4: iterative auth checks of those on the partial state.
	if err := r.iterativeAuthChecks(state, rest); err != nil {
		return nil, err
	}

	// Step 5: the unconflicted state map wins over the partial state.
	out := make(StateMap, len(state)+len(unconflicted))
	for k, ev := range state {
		out[k] = ev.EventID()
	}
	for k, id := range unconflicted {
		out[k] = id
	}
	return out, nil
}

// load loads the events of states and their auth chains, checks them and
// finds the create event. The order of loading does not matter: every
// ordering in the algorithm ends on event IDs, which are unique.
func (r *resolution) load(states []StateMap, unconflicted StateMap, conflicted map[event.StateKeyTuple][]string) error {
	g := r.g
	ids := make([]string, 0, len(unconflicted)+2*len(conflicted))
	for _, id := range unconflicted {
		ids = append(ids, id)
	}
	for _, c := range conflicted {
		ids = append(ids, c...)
	}
	if err := g.loadClosure(ids); err != nil {
		return err
	}
	for _, id := range ids {
		if g.missing[id] {
			return fmt.Errorf("%w: %s (in a state)", ErrMissingEvent, id)
		}
	}
	if err := checkStates(g, states); err != nil {
		return err
	}
	if err := checkOneRoom(g); err != nil {
		return err
	}
	return r.findCreate(unconflicted)
}

// fullConflictedSet returns the conflicted state set, the auth difference
// and, in v2.1, the conflicted state subgraph.
//
// The auth difference needs the full auth chain C_i of each state. Every
// unconflicted event is in every state, so the chains of the unconflicted
// events (common) are in every C_i and are walked once; each state then
// adds the chains of its own conflicted events. Each walk is linear in the
// events it reaches.
//
// NOTSPEC: the spec's auth chain of an event excludes the event, so C_i as
// written holds S_i's events only when another event of S_i cites them.
// Like Synapse we count each state's own events in its chain (an
// unconflicted event is then never in the auth difference): resolving like
// the servers of the federation matters more here than the letter, since
// convergence is the point of state resolution.
func (r *resolution) fullConflictedSet(states []StateMap, unconflicted StateMap, conflicted map[event.StateKeyTuple][]string) bitset {
	g := r.g
	n := len(g.events)
	common := newBitset(n)
	unconflictedNodes := make([]int32, 0, len(unconflicted))
	for _, id := range unconflicted {
		m, _ := g.node(id)
		unconflictedNodes = append(unconflictedNodes, m)
	}
	g.markAncestors(common, unconflictedNodes)

	conflictedSet := newBitset(n)
	var conflictedNodes []int32
	var union, inter bitset
	for i, s := range states {
		var roots []int32
		for k, id := range s {
			if _, ok := conflicted[k]; !ok {
				continue
			}
			m, _ := g.node(id)
			roots = append(roots, m)
			if !conflictedSet.has(m) {
				conflictedSet.add(m)
				conflictedNodes = append(conflictedNodes, m)
			}
		}
		chain := common.clone()
		g.markAncestors(chain, roots)
		if i == 0 {
			union, inter = chain.clone(), chain
			continue
		}
		for w := range chain {
			union[w] |= chain[w]
			inter[w] &= chain[w]
		}
	}
	full := newBitset(n)
	for w := range full {
		full[w] = union[w]&^inter[w] | conflictedSet[w]
	}
	if r.v.StateRes == 21 {
		sub := r.conflictedSubgraph(conflictedSet, conflictedNodes)
		for w := range full {
			full[w] |= sub[w]
		}
	}
	return full
}

// separate splits states into the unconflicted state map and, for each
// conflicted key, its events: a key is unconflicted when every state holds
// it with the same event; a key missing from some state is conflicted.
func separate(states []StateMap) (StateMap, map[event.StateKeyTuple][]string) {
	unconflicted := make(StateMap, len(states[0]))
	for k, id := range states[0] {
		same := id != ""
		for _, s := range states[1:] {
			if s[k] != id {
				same = false
				break
			}
		}
		if same {
			unconflicted[k] = id
		}
	}
	conflicted := make(map[event.StateKeyTuple][]string)
	for _, s := range states {
		for k, id := range s {
			if _, ok := unconflicted[k]; ok || id == "" {
				continue
			}
			dup := false
			for _, c := range conflicted[k] {
				dup = dup || c == id
			}
			if !dup {
				conflicted[k] = append(conflicted[k], id)
			}
		}
	}
	return unconflicted, conflicted
}

// findCreate sets r.create: in v12 the event the room ID names (its ID is
// the room ID with the sigil '$'), loaded if no state holds it; before v12
// the unconflicted create event, if there is one.
func (r *resolution) findCreate(unconflicted StateMap) error {
	g := r.g
	if !r.v.PrivilegedCreators {
		if id, ok := unconflicted[createKey]; ok {
			m, _ := g.node(id)
			r.create = g.events[m]
		}
		return nil
	}
	// The create event itself has no room_id in v12: take it from any
	// other event.
	roomID := ""
	for _, ev := range g.events {
		if ev.Type() != "m.room.create" {
			roomID = ev.RoomID()
			break
		}
	}
	if len(roomID) < 2 || roomID[0] != '!' {
		return fmt.Errorf("stateres: room ID %q does not name a create event", roomID)
	}
	id := "$" + roomID[1:]
	if err := g.loadClosure([]string{id}); err != nil {
		return err
	}
	m, ok := g.node(id)
	if !ok {
		return fmt.Errorf("%w: %s (the room's create event)", ErrMissingEvent, id)
	}
	r.create = g.events[m]
	return nil
}

// conflictedSubgraph returns the v2.1 conflicted state subgraph: the events
// on auth-event paths between events of the conflicted state set, endpoints
// included. Those are the events reachable from a conflicted event (down)
// from which a conflicted event is reachable; a post-order walk of down
// decides the latter for all of them in linear time.
func (r *resolution) conflictedSubgraph(conflicted bitset, roots []int32) bitset {
	g := r.g
	reaches := newBitset(len(g.events))
	visited := newBitset(len(g.events))
	type frame struct {
		n    int32
		next int
	}
	var stack []frame
	for _, root := range roots {
		if visited.has(root) {
			continue
		}
		visited.add(root)
		stack = append(stack[:0], frame{n: root})
		for len(stack) > 0 {
			f := &stack[len(stack)-1]
			if f.next < len(g.auth[f.n]) {
				a := g.auth[f.n][f.next]
				f.next++
				if !visited.has(a) {
					visited.add(a)
					stack = append(stack, frame{n: a})
				}
				continue
			}
			// The auth DAG has no cycles, so every auth event of f.n is
			// finished here and reaches is final for it.
			if conflicted.has(f.n) {
				reaches.add(f.n)
			} else {
				for _, a := range g.auth[f.n] {
					if reaches.has(a) {
						reaches.add(f.n)
						break
					}
				}
			}
			stack = stack[:len(stack)-1]
		}
	}
	return reaches
}

// loadRejections asks a RejectionLoader which auth events of the full
// conflicted set were rejected.
func (r *resolution) loadRejections(full bitset) error {
	rl, ok := r.g.load.(RejectionLoader)
	if !ok {
		return nil
	}
	g := r.g
	want := make(map[string]struct{})
	full.each(func(m int32) {
		for _, a := range g.auth[m] {
			want[g.events[a].EventID()] = struct{}{}
		}
	})
	if len(want) == 0 {
		return nil
	}
	rejected, err := rl.Rejected(g.ctx, sortedIDs(want))
	if err != nil {
		return err
	}
	r.rejected = make(map[int32]bool, len(rejected))
	for id, rej := range rejected {
		if m, ok := g.node(id); ok && rej {
			r.rejected[m] = true
		}
	}
	return nil
}

// iterativeAuthChecks applies the events of order to state, in order, each
// one if the authorization rules allow it against state. A key the rules
// need that state lacks comes from the event's auth events, unless that auth
// event was rejected; in v12 the create event comes from the room ID. The
// borrowed keys are removed again after each check, so that only events
// that pass end up in state.
func (r *resolution) iterativeAuthChecks(state auth.StateMap, order []int32) error {
	g := r.g
	var borrowed []event.StateKeyTuple
	borrow := func(ev *event.Event) {
		k, ok := ev.StateTuple()
		if !ok {
			return
		}
		if _, ok := state[k]; !ok {
			state[k] = ev
			borrowed = append(borrowed, k)
		}
	}
	for i, m := range order {
		if i%256 == 0 {
			if err := g.ctx.Err(); err != nil {
				return err
			}
		}
		ev := g.events[m]
		if !ev.IsState() {
			continue // a message event cited as an auth event is no state
		}
		borrowed = borrowed[:0]
		if r.v.PrivilegedCreators {
			borrow(r.create)
		}
		for _, a := range g.auth[m] {
			if !r.rejected[a] {
				borrow(g.events[a])
			}
		}
		err := auth.Check(ev, state)
		for _, k := range borrowed {
			delete(state, k)
		}
		if err == nil {
			k, _ := ev.StateTuple()
			state[k] = ev
		}
	}
	return nil
}

// isPowerEvent: "a state event with type m.room.power_levels or
// m.room.join_rules, or a state event with type m.room.member where the
// membership is leave or ban and the sender does not match the state_key".
func isPowerEvent(ev *event.Event) bool {
	sk := ev.StateKey()
	if sk == nil {
		return false
	}
	switch ev.Type() {
	case "m.room.power_levels", "m.room.join_rules":
		return true
	case "m.room.member":
		if *sk == ev.Sender() {
			return false
		}
		m := membership(ev)
		return m == "leave" || m == "ban"
	}
	return false
}

// powerEventsAndChains is the set X of step 1: the power events of the full
// conflicted set and the events of their auth chains in that set.
//
// NOTSPEC: the spec adds every event of P's auth chain that is in the full
// conflicted set; Synapse adds those reachable from P through events of the
// full conflicted set only, and so do we, to converge with it. The two
// differ only when an event of the full conflicted set is reachable from P
// solely through events outside it, that is through events in every auth
// chain; that event is then in every auth chain too, so it is in the set as
// a conflicted state event (or, in v2.1, in the subgraph — which then holds
// the path as well, unless P is only in the auth difference).
func (r *resolution) powerEventsAndChains(full bitset) bitset {
	g := r.g
	x := newBitset(len(g.events))
	var stack []int32
	full.each(func(m int32) {
		if isPowerEvent(g.events[m]) {
			x.add(m)
			stack = append(stack, m)
		}
	})
	for len(stack) > 0 {
		m := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, a := range g.auth[m] {
			if full.has(a) && !x.has(a) {
				x.add(a)
				stack = append(stack, a)
			}
		}
	}
	return x
}
