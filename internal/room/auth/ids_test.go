package auth

import (
	"strings"
	"testing"
)

var validUserIDTests = []struct {
	id   string
	want bool
}{
	{"@alice:example.org", true},
	{"@alice:example.org:8448", true},
	{"@alice:1.2.3.4", true},
	{"@alice:[::1]", true},
	{"@alice:[2001:db8::1]:8448", true},
	{"@Alice Smith:example.org", true}, // historical localpart
	{"@:example.org", true},            // historical: empty localpart
	{"@al:ice:example.org", false},     // ':' in the localpart makes "ice:example.org" the server
	{"alice:example.org", false},
	{"@alice", false},
	{"@alice:", false},
	{"@alice:exa_mple.org", false},
	{"@alice:example.org:", false},
	{"@alice:example.org:123456", false},
	{"@alice:example.org:80a", false},
	{"@alice:[::1", false},
	{"@alice:[::1]x", false},
	{"@a\x00b:example.org", false},
	{"@" + strings.Repeat("a", 243) + ":example.org", false}, // 256 bytes
	{"@" + strings.Repeat("a", 242) + ":example.org", true},  // 255 bytes
}

func TestValidUserID(t *testing.T) {
	for _, tt := range validUserIDTests {
		if got := validUserID(tt.id); got != tt.want {
			t.Errorf("validUserID(%q) = %v; want %v", tt.id, got, tt.want)
		}
	}
}

func TestDomain(t *testing.T) {
	for _, tt := range []struct{ id, want string }{
		{"@a:b.example", "b.example"},
		{"!r:b.example:8448", "b.example:8448"},
		{"$e", ""},
	} {
		if got := domain(tt.id); got != tt.want {
			t.Errorf("domain(%q) = %q; want %q", tt.id, got, tt.want)
		}
	}
}
