package clientapi

import (
	"context"

	"chappe.eu/chappe/internal/rooms"
)

// scanRoom reads events of a room in stream order and keeps those that
// keep accepts (history visibility, filters, ignored users), until it has
// limit of them or has read maxScanned. Backwards it starts at position
// from (inclusive) and goes down to bound (exclusive); forwards it starts
// after from and goes up to bound (inclusive). The events come back in the
// order read, with the position where the scan stopped — a token from
// which a next page continues without skipping or repeating — and whether
// more events may lie beyond it.
//
// /messages, /context and /search's context all page through rooms this
// way; only their rules for what to keep differ.
func (a *API) scanRoom(ctx context.Context, roomID string, from, bound int64, limit, maxScanned int, backwards bool,
	keep func(*rooms.Stored) bool) (out []*rooms.Stored, cursor int64, more bool, err error) {
	cursor, scanned := from, 0
	for len(out) < limit {
		lo, hi := cursor, bound
		if backwards {
			lo, hi = bound, cursor
		}
		if lo >= hi {
			return out, cursor, false, nil
		}
		if scanned >= maxScanned {
			return out, cursor, true, nil
		}
		want := limit - len(out)
		batch, err := a.db.RoomEvents(ctx, roomID, lo, hi, want, backwards)
		if err != nil {
			return nil, 0, false, err
		}
		ids := make([]string, len(batch))
		for i, b := range batch {
			ids[i] = b.EventID
		}
		evs, err := a.rooms.Events(ctx, ids)
		if err != nil {
			return nil, 0, false, err
		}
		for _, b := range batch {
			scanned++
			if backwards {
				cursor = b.StreamPos - 1
			} else {
				cursor = b.StreamPos
			}
			if e := evs[b.EventID]; e != nil && keep(e) {
				out = append(out, e)
			}
		}
		if len(batch) < want {
			return out, cursor, false, nil
		}
	}
	return out, cursor, true, nil
}
