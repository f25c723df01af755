package push

import (
	"encoding/json"
	"slices"
)

// CopyRoomRules gives room to, which replaced room from (a room upgrade),
// the user's rules about from: its room rule, and every override and
// underride rule with an event_match condition on room_id = from, copied
// with to as rule ID and as the condition's pattern. Like Synapse
// (copy_push_rules_from_room_to_room_for_user, when a user joins an
// upgraded room): only enabled rules are copied, each as the most
// important rule of its kind, and a rule to already has stays. It
// reports whether it changed anything.
func (u *UserRules) CopyRoomRules(from, to string) bool {
	changed := false
	for _, k := range []Kind{Override, Room, Underride} {
		for _, r := range slices.Clone(u.Rules[k]) {
			if !r.Enabled || countRules(u) >= MaxUserRules ||
				slices.ContainsFunc(u.Rules[k], func(x Rule) bool { return x.RuleID == to }) {
				continue
			}
			copied, ok := r.forRoom(from, to)
			if !ok {
				continue
			}
			u.Rules[k] = slices.Insert(u.Rules[k], 0, copied)
			changed = true
		}
	}
	return changed
}

// forRoom returns r for room to if r is about room from.
func (r Rule) forRoom(from, to string) (Rule, bool) {
	if r.Kind == Room {
		if r.RuleID != from {
			return Rule{}, false
		}
		r.RuleID = to
		return r, true
	}
	conditions := make([]json.RawMessage, len(r.Conditions))
	about := false
	for i, raw := range r.Conditions {
		conditions[i] = raw
		var c map[string]any
		if json.Unmarshal(raw, &c) != nil || c["kind"] != "event_match" || c["key"] != "room_id" || c["pattern"] != from {
			continue
		}
		c["pattern"] = to
		data, err := json.Marshal(c)
		if err != nil {
			return Rule{}, false
		}
		conditions[i], about = data, true
	}
	if !about {
		return Rule{}, false
	}
	r.RuleID, r.Conditions = to, conditions
	return r, true
}
