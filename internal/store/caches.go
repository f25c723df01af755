package store

import "sync"

// Caches of reads that every /sync or every message makes, each kept until
// a key of the change log (changes.go) says the answer may differ. Their
// results are shared between callers, who must not modify them.

// caches are the query caches of the DB.
type caches struct {
	sessions   queryCache[Session]
	userRooms  queryCache[[]RoomMembership]
	forgotten  queryCache[map[string]bool]
	ignored    queryCache[map[string]bool]
	deviceKeys queryCache[deviceKeyCounts]
	history    queryCache[[]Membership]
	presence   queryCache[Presence]
	members    queryCache[roomMembersRules]
	unread     queryCache[[]UnreadCount]
	relations  queryCache[[]Relation] // every unredacted child of an event
	versions   sync.Map               // room ID -> version: it never changes
	tails      roomTails              // the latest events of rooms (roomtails.go)
	redactions struct {
		mu sync.Mutex
		m  map[string]redactionEntry // by event ID
	}
}

type redactionEntry struct {
	by   string // the redaction's ID, "" if none
	asOf int64
}

// roomMembersRules is JoinedMembersRules of a room with the change keys
// its members' rules depend on, built once.
type roomMembersRules struct {
	members []MemberRules
	keys    []string // keyPushRules and keyAccountData of each member
}

type deviceKeyCounts struct {
	otks      map[string]int
	fallbacks []string
}

// queryCache keeps the results of one kind of read per change log key;
// cachedQuery serves a result again while its key has not changed. The
// results are shared: callers must not modify them.
type queryCache[T any] struct {
	mu sync.Mutex
	m  map[string]cachedResult[T]
}

type cachedResult[T any] struct {
	val  T
	asOf int64 // the committed position before the read
}

func (c *queryCache[T]) get(key string) (cachedResult[T], bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.m[key]
	return r, ok
}

// put caches a result; a cache past maxChangeKeys starts again empty.
func (c *queryCache[T]) put(key string, val T, asOf int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxChangeKeys {
		c.m = map[string]cachedResult[T]{}
	}
	c.m[key] = cachedResult[T]{val, asOf}
}

// cachedQuery returns the cached result for key if no change of key
// committed after it was read and none is in flight; else it loads the
// result and caches it. The position is taken before the load, so a
// change that commits during the load makes the result stale at once.
//
// The change key is the cache key unless changeKey is given.
func cachedQuery[T any](db *DB, c *queryCache[T], key string, load func() (T, error), changeKey ...string) (T, error) {
	ck := key
	if len(changeKey) > 0 {
		ck = changeKey[0]
	}
	if r, ok := c.get(key); ok && !db.changes.changedSince(ck, r.asOf) {
		return r.val, nil
	}
	asOf := db.changes.committedPos()
	val, err := load()
	if err != nil {
		return val, err
	}
	c.put(key, val, asOf)
	return val, nil
}

// newEvents tells the caches what just-stored events are like as of their
// own positions: not redacted, and without relations. A /sync that
// returns them then asks the store nothing more about them; a redaction
// or a relation after them has a later position, which makes the entries
// stale.
func (c *caches) newEvents(evs []StoredEvent) {
	rc := &c.redactions
	rc.mu.Lock()
	if rc.m == nil || len(rc.m)+len(evs) > maxChangeKeys {
		rc.m = map[string]redactionEntry{}
	}
	for _, e := range evs {
		rc.m[e.EventID] = redactionEntry{asOf: e.StreamPos}
	}
	rc.mu.Unlock()
	lc := &c.relations
	lc.mu.Lock()
	if lc.m == nil || len(lc.m)+len(evs) > maxChangeKeys {
		lc.m = map[string]cachedResult[[]Relation]{}
	}
	for _, e := range evs {
		lc.m[e.RoomID+"\x00"+e.EventID] = cachedResult[[]Relation]{nil, e.StreamPos}
	}
	lc.mu.Unlock()
}
