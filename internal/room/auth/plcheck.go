package auth

import (
	"chappe.eu/chappe/internal/room/event"
)

// levelsFor returns the power levels given the create event and the
// m.room.power_levels event (nil when absent), reading the latter leniently.
func levelsFor(c createInfo, plEvent *event.Event) *PowerLevels {
	if plEvent == nil {
		return c.defaultLevels()
	}
	parsed := cachedPowerLevels(plEvent)
	pl := *parsed // share the maps; they are never written after parsing
	pl.creators, pl.privileged = c.creators, c.privileged
	return &pl
}

// checkPowerLevels applies the m.room.power_levels rule (10 in v1–v5 and
// v12, 9 in v6–v11). pl is the current power levels and senderLevel the
// sender's level in them.
func (c *checker) checkPowerLevels(pl *PowerLevels, senderLevel int64) error {
	v, r := c.v, c.lay.powerLevels
	next, bad := parsePowerLevels(c.ev.Content(), v)
	// Sub-rules after the content checks shift: v10 added two (9.1, 9.2),
	// v12 one more (10.4, creators).
	shift := 0
	if v.IntegerPowerLevels {
		if bad.top != "" {
			return c.reject(r, ".1", "%s", bad.top)
		}
		if bad.events != "" {
			return c.reject(r, ".2", "%s", bad.events)
		}
		if bad.notifications != "" {
			return c.reject(r, ".2", "%s", bad.notifications)
		}
		shift = 2
	}
	if bad.users != "" {
		return c.reject(r, "."+itoa(1+shift), "%s", bad.users)
	}
	if v.PrivilegedCreators {
		shift = 3
		for _, cr := range c.create.creators {
			if _, ok := next.Users[cr]; ok {
				return c.reject(r, ".4", "users lists the room creator %s", cr)
			}
		}
	}
	sub := func(n int, rest string) string { return "." + itoa(n+shift) + rest }
	prevEvent := c.state[powerLevelsTuple]
	if prevEvent == nil {
		return nil
	}
	prev := cachedPowerLevels(prevEvent)

	// Before v10 a later power levels event must still hold power levels we
	// can compare: NOTSPEC (the rules only name users), but a value that is
	// no integer (or integer string, or v1–v5 float) cannot be "higher than
	// the sender's power level" or not; Synapse rejects these too.
	if !v.IntegerPowerLevels {
		if bad.top != "" {
			return c.reject(r, sub(3, ".2"), "new value: %s", bad.top)
		}
		if bad.events != "" {
			return c.reject(r, sub(5, ".1"), "new value: %s", bad.events)
		}
		if v.NotificationsPowerLevel && bad.notifications != "" {
			return c.reject(r, sub(5, ".1"), "new value: %s", bad.notifications)
		}
	}

	for i, key := range topKeys {
		was, is := prev.present&(1<<i) != 0, next.present&(1<<i) != 0
		old, now := *prev.top(i), *next.top(i)
		if was == is && (!was || old == now) {
			continue
		}
		if was && old > senderLevel {
			return c.reject(r, sub(3, ".1"), "current %s %d is higher than the sender's %d", key, old, senderLevel)
		}
		if is && now > senderLevel {
			return c.reject(r, sub(3, ".2"), "new %s %d is higher than the sender's %d", key, now, senderLevel)
		}
	}
	maps := []struct {
		name      string
		old, next map[string]int64
	}{{"events", prev.Events, next.Events}}
	if v.NotificationsPowerLevel {
		maps = append(maps, struct {
			name      string
			old, next map[string]int64
		}{"notifications", prev.Notifications, next.Notifications})
	}
	for _, m := range maps {
		for k, old := range m.old {
			if now, ok := m.next[k]; (!ok || now != old) && old > senderLevel {
				return c.reject(r, sub(4, ".1"), "current %s[%q] %d is higher than the sender's %d", m.name, k, old, senderLevel)
			}
		}
	}
	for _, m := range maps {
		for k, now := range m.next {
			if old, ok := m.old[k]; (!ok || now != old) && now > senderLevel {
				return c.reject(r, sub(5, ".1"), "new %s[%q] %d is higher than the sender's %d", m.name, k, now, senderLevel)
			}
		}
	}
	sender := c.ev.Sender()
	for k, old := range prev.Users {
		if k == sender {
			continue
		}
		if now, ok := next.Users[k]; (!ok || now != old) && old >= senderLevel {
			return c.reject(r, sub(6, ".1"), "cannot change %s at level %d, not below the sender's %d", k, old, senderLevel)
		}
	}
	for k, now := range next.Users {
		if old, ok := prev.Users[k]; (!ok || now != old) && now > senderLevel {
			return c.reject(r, sub(7, ".1"), "new level %d of %s is higher than the sender's %d", now, k, senderLevel)
		}
	}
	return nil
}
