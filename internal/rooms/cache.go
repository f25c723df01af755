package rooms

import "sync"

// eventCache keeps recently used parsed events. It is a bounded map with
// random-ish eviction (Go's map iteration order): simpler than an LRU and
// good enough for a cache whose entries never go stale.
type eventCache struct {
	max int

	mu sync.RWMutex // guards m
	m  map[string]*Stored
}

func newEventCache(max int) *eventCache { return &eventCache{max: max, m: make(map[string]*Stored)} }

func (c *eventCache) get(id string) *Stored {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.m[id]
}

func (c *eventCache) put(id string, e *Stored) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		n := c.max / 10
		for k := range c.m {
			delete(c.m, k)
			if n--; n <= 0 {
				break
			}
		}
	}
	c.m[id] = e
}
