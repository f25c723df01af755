package store

import "slices"

// txNotes is what a write transaction stored that the caches take when it
// commits (wtx.settle): its events and redactions for the room tails
// (roomtails.go), and how it changed unread counts.
type txNotes struct {
	appended   []StoredEvent
	redactions []tailRedaction
	// unreadAdds are notifications added to the unread summaries
	// (countTx); unreadRecounts are the summaries counted again
	// (recountTx), which the cache can't follow.
	unreadAdds     []unreadAdd
	unreadRecounts []string // keyUnread
}

type unreadAdd struct {
	key, thread string // keyUnread
	highlight   bool
}

// notesMark is where a savepoint began in the notes.
type notesMark [4]int

func (n *txNotes) mark() notesMark {
	return notesMark{len(n.appended), len(n.redactions), len(n.unreadAdds), len(n.unreadRecounts)}
}

// rollback forgets what was noted after m: a savepoint rolled back.
func (n *txNotes) rollback(m notesMark) {
	n.appended, n.redactions = n.appended[:m[0]], n.redactions[:m[1]]
	n.unreadAdds, n.unreadRecounts = n.unreadAdds[:m[2]], n.unreadRecounts[:m[3]]
}

// settleUnread brings the cached unread counts up to a transaction that
// committed at pos: an entry that was exact before it, with no other
// transaction changing it in flight, takes the notifications it added and
// pos; one it recounted goes. The caller's keys are still pending, so no
// reader caches a result of its own meanwhile (UnreadCounts).
func (tx *wtx) settleUnread(pos int64) {
	n := &tx.notes
	if len(n.unreadAdds) == 0 && len(n.unreadRecounts) == 0 {
		return
	}
	c := &tx.caches.unread
	c.mu.Lock()
	defer c.mu.Unlock()
	recounted := make(map[string]bool, len(n.unreadRecounts))
	for _, k := range n.unreadRecounts {
		delete(c.m, k)
		recounted[k] = true
	}
	changed := map[string][]UnreadCount{}
	var own map[string]int // how often this transaction touched each key
	for _, a := range n.unreadAdds {
		if recounted[a.key] {
			continue
		}
		counts, ok := changed[a.key]
		if !ok {
			r, cached := c.m[a.key]
			if cached && own == nil {
				own = make(map[string]int, len(tx.touched))
				for _, k := range tx.touched {
					own[k]++
				}
			}
			if !cached || !tx.changes.onlyChangeSince(a.key, own[a.key], r.asOf) {
				delete(c.m, a.key)
				continue
			}
			counts = slices.Clone(r.val) // the cached one is shared
		}
		i := slices.IndexFunc(counts, func(u UnreadCount) bool { return u.ThreadID == a.thread })
		if i < 0 {
			counts = append(counts, UnreadCount{ThreadID: a.thread})
			i = len(counts) - 1
		}
		counts[i].Notifications++
		if a.highlight {
			counts[i].Highlights++
		}
		changed[a.key] = counts
	}
	for k, counts := range changed {
		c.m[k] = cachedResult[[]UnreadCount]{counts, pos}
	}
}
