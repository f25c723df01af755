package stateres

import (
	"container/heap"
	"encoding/json"
	"math"
	"sort"

	"chappe.eu/chappe/internal/room/auth"
	"chappe.eu/chappe/internal/room/event"
)

// powerKey is how the reverse topological power ordering compares events:
// x < y when x's sender has the greater power level, then the smaller
// origin_server_ts, then the smaller event ID.
type powerKey struct {
	n     int32
	power int64
	ts    int64
	id    string
}

func (a powerKey) less(b powerKey) bool {
	if a.power != b.power {
		return a.power > b.power
	}
	if a.ts != b.ts {
		return a.ts < b.ts
	}
	return a.id < b.id
}

type powerHeap []powerKey

func (h powerHeap) Len() int           { return len(h) }
func (h powerHeap) Less(i, j int) bool { return h[i].less(h[j]) }
func (h powerHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *powerHeap) Push(x any)        { *h = append(*h, x.(powerKey)) }
func (h *powerHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// reverseTopologicalPowerOrder sorts the events of set with Kahn's algorithm
// over their auth edges inside set, auth events first, taking at each step
// the smallest available event by powerKey.
//
// "The DAG formed by auth events" of a set of events is read as the set's
// events and the auth_events references between them, as Synapse does: an
// ancestor reached only through events outside the set is not ordered
// first. That is what lets v2 reset state (testdata/v2_state_reset.jsonl)
// and why v2.1 adds the conflicted state subgraph, whose events fill in
// those paths (testdata/v21_conflicted_subgraph.jsonl).
func (r *resolution) reverseTopologicalPowerOrder(set bitset) []int32 {
	g := r.g
	local := make(map[int32]int) // event number → index in keys
	var keys []powerKey
	set.each(func(m int32) {
		ev := g.events[m]
		local[m] = len(keys)
		keys = append(keys, powerKey{n: m, power: r.senderPower(m), ts: ev.OriginServerTS(), id: ev.EventID()})
	})
	waiting := make([]int, len(keys)) // auth events in set not yet emitted
	cites := make([][]int, len(keys)) // index → indexes of the events citing it
	for i, k := range keys {
		for _, a := range g.auth[k.n] {
			if j, ok := local[a]; ok {
				waiting[i]++
				cites[j] = append(cites[j], i)
			}
		}
	}
	h := make(powerHeap, 0, len(keys))
	for i, k := range keys {
		if waiting[i] == 0 {
			h = append(h, k)
		}
	}
	heap.Init(&h)
	order := make([]int32, 0, len(keys))
	for h.Len() > 0 {
		k := heap.Pop(&h).(powerKey)
		order = append(order, k.n)
		for _, c := range cites[local[k.n]] {
			if waiting[c]--; waiting[c] == 0 {
				heap.Push(&h, keys[c])
			}
		}
	}
	return order
}

// senderPower is the power level of an event's sender "when looking at
// their respective auth_events": from the m.room.power_levels event among its
// auth events, or the defaults when there is none (the creator has 100
// before v12). In v12 the creators have infinite power.
func (r *resolution) senderPower(m int32) int64 {
	g := r.g
	createN, plN := int32(-1), int32(-1)
	for _, a := range g.auth[m] {
		switch k, _ := g.events[a].StateTuple(); k {
		case createKey:
			createN = a
		case powerLevelsKey:
			plN = a
		}
	}
	create := r.create
	if r.v.PrivilegedCreators || createN < 0 {
		if create == nil {
			// No create event anywhere: such an event would have been
			// rejected; rank its sender lowest.
			return math.MinInt64
		}
		createN, _ = g.node(create.EventID())
	} else {
		create = g.events[createN]
	}
	key := [2]int32{createN, plN}
	levels, ok := r.levels[key]
	if !ok {
		var pl *event.Event
		if plN >= 0 {
			pl = g.events[plN]
		}
		// A malformed content still yields usable levels, with the
		// defaults for what could not be read: the event was accepted.
		levels, _ = auth.ParsePowerLevels(create, pl)
		r.levels[key] = levels
	}
	return levels.UserLevel(g.events[m].Sender())
}

// powerLevelsAuth returns the m.room.power_levels event among the auth
// events of m, or -1.
func (r *resolution) powerLevelsAuth(m int32) int32 {
	for _, a := range r.g.auth[m] {
		if k, _ := r.g.events[a].StateTuple(); k == powerLevelsKey {
			return a
		}
	}
	return -1
}

// mainlineOrder sorts events by the mainline ordering based on pl (nil when
// the partial state has no power levels: every position is then ∞): the
// greater mainline position first, then the smaller origin_server_ts, then
// the smaller event ID.
func (r *resolution) mainlineOrder(events []int32, pl *event.Event) {
	if len(events) == 0 {
		return
	}
	g := r.g
	const infinite = math.MaxInt32
	position := make(map[int32]int, 16) // power levels event → mainline position, memoised
	if pl != nil {
		p, _ := g.node(pl.EventID())
		for i := 0; p >= 0; i++ {
			if _, seen := position[p]; seen {
				break // a cycle cannot happen in an auth DAG, but never loop
			}
			position[p] = i
			p = r.powerLevelsAuth(p)
		}
	}
	// positionOf follows e_1, e_2, … (e_0 = e itself is not included) to
	// the first one on the mainline; it memoises every power levels event
	// on the way.
	var path []int32
	positionOf := func(e int32) int {
		path = path[:0]
		p := r.powerLevelsAuth(e)
		pos := infinite
		for p >= 0 {
			if q, ok := position[p]; ok {
				pos = q
				break
			}
			path = append(path, p)
			p = r.powerLevelsAuth(p)
		}
		for _, q := range path {
			position[q] = pos
		}
		return pos
	}
	type mainlineKey struct {
		pos int
		ts  int64
		id  string
	}
	keys := make(map[int32]mainlineKey, len(events))
	for _, e := range events {
		ev := g.events[e]
		keys[e] = mainlineKey{pos: positionOf(e), ts: ev.OriginServerTS(), id: ev.EventID()}
	}
	sort.Slice(events, func(i, j int) bool {
		a, b := keys[events[i]], keys[events[j]]
		if a.pos != b.pos {
			return a.pos > b.pos
		}
		if a.ts != b.ts {
			return a.ts < b.ts
		}
		return a.id < b.id
	})
}

// membership returns content.membership of a member event, or "".
func membership(ev *event.Event) string {
	var c struct {
		Membership string `json:"membership"`
	}
	_ = json.Unmarshal(ev.Content(), &c)
	return c.Membership
}
