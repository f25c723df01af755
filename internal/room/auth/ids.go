package auth

import "strings"

// domain returns the server name of a user, room or event ID: everything after
// the first colon, or "" when there is none. Room versions 1–11 put the domain
// in room IDs and versions 1–2 in event IDs; the rules compare these.
func domain(id string) string {
	if i := strings.IndexByte(id, ':'); i >= 0 {
		return id[i+1:]
	}
	return ""
}

// validUserID reports whether id is a user ID that the authorization rules must
// accept: the historical grammar of the appendices ("servers MUST accept user IDs
// with localparts consisting of any legal non-surrogate Unicode code points except
// for `:` and `NUL`"), a valid server name, and at most 255 bytes.
func validUserID(id string) bool {
	if len(id) > 255 || len(id) < 3 || id[0] != '@' {
		return false
	}
	i := strings.IndexByte(id, ':')
	if i < 0 {
		return false
	}
	if strings.IndexByte(id[1:i], 0) >= 0 {
		return false
	}
	return validServerName(id[i+1:])
}

// validServerName implements the server_name grammar of the appendices:
// hostname [ ":" port ], hostname being an IPv4 literal, a bracketed IPv6
// literal or a DNS name of [A-Za-z0-9.-] (an IPv4 literal is also a DNS name
// by that grammar).
func validServerName(s string) bool {
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return false
		}
		host, port = s[:end+1], s[end+1:]
		if port != "" {
			if port[0] != ':' {
				return false
			}
			port = port[1:]
			if port == "" {
				return false
			}
		}
		v6 := host[1 : len(host)-1]
		if len(v6) < 2 || len(v6) > 45 {
			return false
		}
		for i := 0; i < len(v6); i++ {
			c := v6[i]
			if !(isDigit(c) || c >= 'A' && c <= 'F' || c >= 'a' && c <= 'f' || c == ':' || c == '.') {
				return false
			}
		}
	} else {
		if i := strings.LastIndexByte(s, ':'); i >= 0 {
			host, port = s[:i], s[i+1:]
			if port == "" {
				return false
			}
		}
		if len(host) < 1 || len(host) > 255 {
			return false
		}
		for i := 0; i < len(host); i++ {
			c := host[i]
			if !(isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '.') {
				return false
			}
		}
	}
	if len(port) > 5 {
		return false
	}
	for i := 0; i < len(port); i++ {
		if !isDigit(port[i]) {
			return false
		}
	}
	return true
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
