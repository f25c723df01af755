package auth

import (
	"strings"

	"chappe.eu/chappe/internal/matrix"
)

// domain returns the server name of a user, room or event ID: everything after
// the first colon, or "" when there is none. Room versions 1–11 put the domain
// in room IDs and versions 1–2 in event IDs; the rules compare these.
func domain(id string) string {
	if i := strings.IndexByte(id, ':'); i >= 0 {
		return id[i+1:]
	}
	return ""
}

// validUserID reports whether id is a user ID that the authorization rules
// must accept: "the same user ID validation applied to sender" (v12 rule
// 1.4), which is the event parser's, historical localparts included.
func validUserID(id string) bool {
	_, err := matrix.ParseUserID(id)
	return err == nil
}
