package stateres

import (
	"context"
	"math/bits"

	"chappe.eu/chappe/internal/room/event"
)

// graph holds the events of one resolution, numbered densely so that sets of
// events are bitsets and the auth DAG is a slice of int32 adjacency lists.
// Numbering follows load order; nothing in the algorithms depends on it
// (every tie is broken by event fields), it only makes the walks cheap.
type graph struct {
	ctx  context.Context
	load EventLoader

	index   map[string]int32 // event ID → number
	events  []*event.Event   // number → event
	auth    [][]int32        // number → numbers of its loaded auth events, deduplicated
	missing map[string]bool  // IDs the loader did not return
}

func newGraph(ctx context.Context, load EventLoader) *graph {
	return &graph{ctx: ctx, load: load, index: make(map[string]int32), missing: make(map[string]bool)}
}

func (g *graph) known(id string) bool {
	if _, ok := g.index[id]; ok {
		return true
	}
	return g.missing[id]
}

// node returns the number of a loaded event.
func (g *graph) node(id string) (int32, bool) {
	n, ok := g.index[id]
	return n, ok
}

// loadEvents loads the events of ids that are not loaded yet, without their
// auth events, and returns the IDs of the auth events of what it loaded that
// are still unknown.
func (g *graph) loadEvents(ids []string) ([]string, error) {
	var want []string
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if !g.known(id) && !seen[id] {
			seen[id] = true
			want = append(want, id)
		}
	}
	if len(want) == 0 {
		return nil, nil
	}
	got, err := g.load.Events(g.ctx, want)
	if err != nil {
		return nil, err
	}
	var next []string
	for _, id := range want {
		ev := got[id]
		if ev == nil || ev.EventID() != id {
			g.missing[id] = true
			continue
		}
		g.index[id] = int32(len(g.events))
		g.events = append(g.events, ev)
		for _, a := range ev.AuthEventIDs() {
			if !g.known(a) && !seen[a] {
				seen[a] = true
				next = append(next, a)
			}
		}
	}
	return next, nil
}

// loadClosure loads ids and, breadth first, every event in their auth
// chains: one loader call per generation.
func (g *graph) loadClosure(ids []string) error {
	for len(ids) > 0 {
		if err := g.ctx.Err(); err != nil {
			return err
		}
		next, err := g.loadEvents(ids)
		if err != nil {
			return err
		}
		ids = next
	}
	g.link()
	return nil
}

// link fills in the auth adjacency of the events loaded since the last call.
// Auth events that are missing are left out: the walk ends there.
func (g *graph) link() {
	for len(g.auth) < len(g.events) {
		ev := g.events[len(g.auth)]
		var adj []int32
		for _, a := range ev.AuthEventIDs() {
			n, ok := g.index[a]
			if !ok {
				continue
			}
			dup := false
			for _, m := range adj {
				dup = dup || m == n
			}
			if !dup {
				adj = append(adj, n)
			}
		}
		g.auth = append(g.auth, adj)
	}
}

// markAncestors adds to set the roots and all their auth ancestors. It does
// not walk past an event already in set, so set must be closed under auth
// edges when called (every set built only by markAncestors is).
func (g *graph) markAncestors(set bitset, roots []int32) {
	stack := make([]int32, 0, len(roots))
	for _, r := range roots {
		if !set.has(r) {
			set.add(r)
			stack = append(stack, r)
		}
	}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, a := range g.auth[n] {
			if !set.has(a) {
				set.add(a)
				stack = append(stack, a)
			}
		}
	}
}

// bitset is a set of event numbers.
type bitset []uint64

func newBitset(n int) bitset { return make(bitset, (n+63)/64) }

func (b bitset) add(i int32)      { b[i>>6] |= 1 << (uint(i) & 63) }
func (b bitset) has(i int32) bool { return b[i>>6]&(1<<(uint(i)&63)) != 0 }

func (b bitset) clone() bitset { return append(bitset(nil), b...) }

// each calls f with every member in ascending order.
func (b bitset) each(f func(int32)) {
	for w, word := range b {
		for word != 0 {
			f(int32(w*64 + bits.TrailingZeros64(word)))
			word &= word - 1
		}
	}
}
