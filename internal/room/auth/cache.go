package auth

import (
	"runtime"
	"sync"
	"weak"

	"chappe.eu/chappe/internal/room/event"
)

// Parsing a power levels event with thousands of users costs far more than
// the rest of Check, and the same event is checked against again and again.
// Events are immutable, so the parse is cached per event, weakly: an entry
// lives as long as its event does.
var plCache struct {
	mu sync.Mutex
	m  map[weak.Pointer[event.Event]]*PowerLevels // mu guards m
}

// cachedPowerLevels returns the lenient parse of an m.room.power_levels
// event's content, without creators. The result is shared: never modify it.
func cachedPowerLevels(ev *event.Event) *PowerLevels {
	key := weak.Make(ev)
	plCache.mu.Lock()
	pl, ok := plCache.m[key]
	plCache.mu.Unlock()
	if ok {
		return pl
	}
	pl, _ = parsePowerLevels(ev.Content(), ev.Version())
	plCache.mu.Lock()
	if plCache.m == nil {
		plCache.m = make(map[weak.Pointer[event.Event]]*PowerLevels)
	}
	if _, ok := plCache.m[key]; !ok {
		plCache.m[key] = pl
		runtime.AddCleanup(ev, func(k weak.Pointer[event.Event]) {
			plCache.mu.Lock()
			delete(plCache.m, k)
			plCache.mu.Unlock()
		}, key)
	}
	plCache.mu.Unlock()
	return pl
}
