package clientapi

import "chappe.eu/chappe/internal/rooms"

// Ignoring users ("Ignoring Users"): the ignore list is the global account
// data m.ignored_user_list (store.IgnoredUsers reads it). Events sent by
// ignored users are hidden from the ignorer wherever timelines are served
// (/sync, /messages), except state events, which the spec says must still
// be sent so that the room looks the same; /sync also drops invites from
// them.

// HiddenByIgnore reports whether e is hidden from a viewer who ignores the
// users in ignored.
func HiddenByIgnore(ignored map[string]bool, e *rooms.Stored) bool {
	return len(ignored) > 0 && e.StateKey() == nil && ignored[e.Sender()]
}
