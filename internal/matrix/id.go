package matrix

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"
)

// Typed identifiers (appendices, "Identifier Grammar"). Parse functions
// check the grammar at the edge; code inside Chappe takes and returns the
// typed values. Converting a string with UserID(s) skips the checks and is
// for values that were already parsed (from the database, say).
type (
	// ServerName is a homeserver's name: hostname[:port].
	ServerName string
	// UserID is "@localpart:server".
	UserID string
	// RoomID is "!opaque:server" before room version 12 and
	// "!" + the create event's reference hash from version 12 on.
	RoomID string
	// EventID is "$opaque:server" in room versions 1 and 2 and
	// "$" + the event's reference hash in later versions.
	EventID string
	// RoomAlias is "#localpart:server".
	RoomAlias string
)

// MaxIDLength is the longest a user ID, room ID, event ID or room alias may
// be, in bytes, sigil and server name included.
const MaxIDLength = 255

// IDError says why a string is not a valid identifier.
type IDError struct {
	Kind   string // "user ID", "room ID", "event ID", "room alias", "server name"
	Value  string
	Reason string
}

func (e *IDError) Error() string {
	v := e.Value
	if len(v) > 64 {
		v = v[:64] + "…"
	}
	return fmt.Sprintf("invalid %s %q: %s", e.Kind, v, e.Reason)
}

// ParseServerName checks s against the server name grammar: a DNS name of
// at most 255 letters, digits, '-' and '.' (which also covers dotted-quad
// IPv4), or an IPv6 literal in brackets, then an optional port of 1 to 5
// digits. Like the grammar it does not insist on well-formed DNS labels, and
// it keeps case: server names are case-sensitive.
func ParseServerName(s string) (ServerName, error) {
	if reason := checkServerName(s); reason != "" {
		return "", &IDError{"server name", s, reason}
	}
	return ServerName(s), nil
}

func checkServerName(s string) string {
	host, port := splitHostPort(s)
	if port != "" || strings.HasSuffix(s, ":") {
		if len(port) == 0 || len(port) > 5 || strings.Trim(port, "0123456789") != "" {
			return "port must be 1 to 5 digits"
		}
	}
	if strings.HasPrefix(host, "[") {
		addr := strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		if len(addr) < 2 || len(addr) > 45 || !strings.HasSuffix(host, "]") ||
			strings.Trim(addr, "0123456789abcdefABCDEF:.") != "" {
			return "invalid IPv6 literal"
		}
		if ip, err := netip.ParseAddr(addr); err != nil || !ip.Is6() {
			return "invalid IPv6 literal"
		}
		return ""
	}
	if len(host) == 0 || len(host) > 255 {
		return "hostname must be 1 to 255 characters"
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			return fmt.Sprintf("invalid character %q in hostname", c)
		}
	}
	return ""
}

// splitHostPort splits at the port colon, which for an IPv6 literal is the
// one after the closing bracket.
func splitHostPort(s string) (host, port string) {
	if strings.HasPrefix(s, "[") {
		if i := strings.LastIndex(s, "]"); i >= 0 && i+1 < len(s) && s[i+1] == ':' {
			return s[:i+1], s[i+2:]
		}
		return s, ""
	}
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// Host returns the hostname: a DNS name, an IPv4 literal or an IPv6 literal
// with its brackets.
func (s ServerName) Host() string {
	host, _ := splitHostPort(string(s))
	return host
}

// Port returns the explicit port, or "" if there is none.
func (s ServerName) Port() string {
	_, port := splitHostPort(string(s))
	return port
}

// checkOpaque checks a localpart of the historical grammar shared by user
// IDs, room IDs and aliases: valid UTF-8 without ':' or NUL.
func checkOpaque(lp string) string {
	if !utf8.ValidString(lp) {
		return "not valid UTF-8"
	}
	if strings.ContainsAny(lp, ":\x00") {
		return "localpart contains ':' or NUL"
	}
	return ""
}

// splitID checks the sigil and length and splits "&localpart:server".
func splitID(kind string, sigil byte, s string) (localpart string, server ServerName, err error) {
	if len(s) > MaxIDLength {
		return "", "", &IDError{kind, s, fmt.Sprintf("longer than %d bytes", MaxIDLength)}
	}
	if len(s) == 0 || s[0] != sigil {
		return "", "", &IDError{kind, s, fmt.Sprintf("must start with %q", sigil)}
	}
	i := strings.IndexByte(s, ':')
	if i < 0 {
		return "", "", &IDError{kind, s, "missing ':server'"}
	}
	lp, sn := s[1:i], s[i+1:]
	if reason := checkServerName(sn); reason != "" {
		return "", "", &IDError{kind, s, "server name: " + reason}
	}
	if reason := checkOpaque(lp); reason != "" {
		return "", "", &IDError{kind, s, reason}
	}
	return lp, ServerName(sn), nil
}

// ParseUserID parses a user ID as it may appear in events and over
// federation: besides the current grammar it accepts historical localparts
// (any code points but ':' and NUL, even empty), which servers MUST accept.
// Use IsCompliant to find historical IDs and NewUserID to make new ones.
func ParseUserID(s string) (UserID, error) {
	if _, _, err := splitID("user ID", '@', s); err != nil {
		return "", err
	}
	return UserID(s), nil
}

// NewUserID returns the user ID for a new account, checking the localpart
// against the current grammar (ValidateLocalpart) and the length limit.
func NewUserID(localpart string, server ServerName) (UserID, error) {
	if err := ValidateLocalpart(localpart); err != nil {
		return "", err
	}
	return ParseUserID("@" + localpart + ":" + string(server))
}

// ValidateLocalpart checks a user ID localpart against the grammar for new
// user IDs: one or more of a-z, 0-9, '.', '_', '=', '-', '/' and '+'.
func ValidateLocalpart(localpart string) error {
	if localpart == "" {
		return &IDError{"user ID", localpart, "empty localpart"}
	}
	for i := 0; i < len(localpart); i++ {
		if !isUserIDChar(localpart[i]) {
			return &IDError{"user ID", localpart,
				fmt.Sprintf("localpart may hold only a-z, 0-9 and ._=-/+, not %q", localpart[i])}
		}
	}
	return nil
}

func isUserIDChar(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("._=-/+", c) >= 0
}

// Localpart returns the part between '@' and the first ':'.
func (u UserID) Localpart() string {
	s := string(u)
	if i := strings.IndexByte(s, ':'); i > 0 {
		return s[1:i]
	}
	return ""
}

// Server returns the server name after the first ':'.
func (u UserID) Server() ServerName {
	s := string(u)
	if i := strings.IndexByte(s, ':'); i >= 0 {
		return ServerName(s[i+1:])
	}
	return ""
}

// IsCompliant reports whether u's localpart is non-empty and within
// U+0021–U+007E. Servers SHOULD NOT forward non-compliant IDs to clients
// outside the context of an event.
func (u UserID) IsCompliant() bool {
	lp := u.Localpart()
	if lp == "" {
		return false
	}
	for i := 0; i < len(lp); i++ {
		if lp[i] < 0x21 || lp[i] > 0x7e {
			return false
		}
	}
	return true
}

// roomIDHashLength is the length of an unpadded base64 SHA-256 hash.
const roomIDHashLength = 43

// ParseRoomID parses a room ID of either shape: "!opaque:server" (room
// versions 1–11; the opaque part may be any code points but ':' and NUL)
// or "!" + 43 characters of URL-safe unpadded base64 (room version 12 and
// later). Which shape a room's version requires is the event package's
// business.
func ParseRoomID(s string) (RoomID, error) {
	if strings.IndexByte(s, ':') < 0 && len(s) > 0 && s[0] == '!' {
		if !isHash(s[1:], base64.RawURLEncoding) {
			return "", &IDError{"room ID", s, "neither !opaque:server nor ! and a URL-safe base64 SHA-256 hash"}
		}
		return RoomID(s), nil
	}
	if _, _, err := splitID("room ID", '!', s); err != nil {
		return "", err
	}
	return RoomID(s), nil
}

// isHash reports whether s is a SHA-256 hash in the given unpadded base64
// encoding, with no stray bits.
func isHash(s string, enc *base64.Encoding) bool {
	if len(s) != roomIDHashLength {
		return false
	}
	b, err := enc.Strict().DecodeString(s)
	return err == nil && len(b) == 32
}

// Server returns the server part of a room ID, or "" for a room ID of room
// version 12 or later, which has none.
func (r RoomID) Server() ServerName {
	s := string(r)
	if i := strings.IndexByte(s, ':'); i >= 0 {
		return ServerName(s[i+1:])
	}
	return ""
}

// Localpart returns the opaque part between '!' and the server (or the end).
func (r RoomID) Localpart() string {
	s := string(r)
	if i := strings.IndexByte(s, ':'); i > 0 {
		return s[1:i]
	}
	if len(s) > 0 {
		return s[1:]
	}
	return ""
}

// IsHashBased reports whether r has the server-less form of room version 12.
func (r RoomID) IsHashBased() bool {
	return len(r) > 0 && strings.IndexByte(string(r), ':') < 0
}

// EventID returns the event ID of the create event a hash-based room ID is
// derived from, or "" if r is not hash-based.
func (r RoomID) EventID() EventID {
	if !r.IsHashBased() {
		return ""
	}
	return EventID("$" + string(r[1:]))
}

// ParseEventID parses an event ID of any room version: "$" and at least one
// more character, at most 255 bytes, valid UTF-8 without NUL. Whether it has
// the shape a room version requires is checked by the event package.
func ParseEventID(s string) (EventID, error) {
	switch {
	case len(s) > MaxIDLength:
		return "", &IDError{"event ID", s, fmt.Sprintf("longer than %d bytes", MaxIDLength)}
	case len(s) < 2 || s[0] != '$':
		return "", &IDError{"event ID", s, "must be '$' and an opaque ID"}
	case !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0:
		return "", &IDError{"event ID", s, "not valid UTF-8 or contains NUL"}
	}
	return EventID(s), nil
}

// Server returns the server part of a room version 1 or 2 event ID, or "".
func (e EventID) Server() ServerName {
	s := string(e)
	if i := strings.IndexByte(s, ':'); i >= 0 {
		return ServerName(s[i+1:])
	}
	return ""
}

// ParseRoomAlias parses "#localpart:server"; the localpart may be any code
// points but ':' and NUL.
func ParseRoomAlias(s string) (RoomAlias, error) {
	if _, _, err := splitID("room alias", '#', s); err != nil {
		return "", err
	}
	return RoomAlias(s), nil
}

// Localpart returns the part between '#' and the first ':'.
func (a RoomAlias) Localpart() string {
	s := string(a)
	if i := strings.IndexByte(s, ':'); i > 0 {
		return s[1:i]
	}
	return ""
}

// Server returns the server name after the first ':'.
func (a RoomAlias) Server() ServerName {
	s := string(a)
	if i := strings.IndexByte(s, ':'); i >= 0 {
		return ServerName(s[i+1:])
	}
	return ""
}
