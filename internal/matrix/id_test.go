package matrix

import (
	"errors"
	"strings"
	"testing"
)

var serverNameTests = []struct {
	in         string
	ok         bool
	host, port string
}{
	// The appendix's examples.
	{"matrix.org", true, "matrix.org", ""},
	{"matrix.org:8888", true, "matrix.org", "8888"},
	{"1.2.3.4", true, "1.2.3.4", ""},
	{"1.2.3.4:1234", true, "1.2.3.4", "1234"},
	{"[1234:5678::abcd]", true, "[1234:5678::abcd]", ""},
	{"[1234:5678::abcd]:5678", true, "[1234:5678::abcd]", "5678"},
	{"localhost", true, "localhost", ""},
	{"MATRIX.ORG", true, "MATRIX.ORG", ""}, // case-sensitive, kept
	{"[::1]", true, "[::1]", ""},
	{"[::ffff:1.2.3.4]:8448", true, "[::ffff:1.2.3.4]", "8448"},
	{"a-b.c:1", true, "a-b.c", "1"},
	{"x:99999", true, "x", "99999"}, // the grammar allows 5 digits
	{strings.Repeat("a", 255), true, strings.Repeat("a", 255), ""},

	{"", false, "", ""},
	{":80", false, "", ""},
	{"matrix.org:", false, "", ""},
	{"matrix.org:123456", false, "", ""},
	{"matrix.org:8a", false, "", ""},
	{"matrix.org:-1", false, "", ""},
	{"under_score.org", false, "", ""},
	{"spa ce.org", false, "", ""},
	{"exämple.org", false, "", ""},
	{"a:b:c", false, "", ""},
	{"[1234:5678::abcd", false, "", ""},
	{"[1234:5678::abcd]x", false, "", ""},
	{"[1.2.3.4]", false, "", ""},
	{"[::1%eth0]", false, "", ""},
	{"[fe80::1:2:3:4:5:6:7:8:9]", false, "", ""},
	{"[]", false, "", ""},
	{"[::1]:", false, "", ""},
	{strings.Repeat("a", 256), false, "", ""},
}

func TestParseServerName(t *testing.T) {
	for _, tt := range serverNameTests {
		got, err := ParseServerName(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ParseServerName(%q) = %q, %v; want ok=%v", tt.in, got, err, tt.ok)
			continue
		}
		if tt.ok && (got.Host() != tt.host || got.Port() != tt.port) {
			t.Errorf("ParseServerName(%q) host, port = %q, %q; want %q, %q", tt.in, got.Host(), got.Port(), tt.host, tt.port)
		}
	}
}

var userIDTests = []struct {
	in        string
	ok        bool
	localpart string
	server    ServerName
	compliant bool
}{
	{"@alice:example.org", true, "alice", "example.org", true},
	{"@a.b_c=d-e/f+g:example.org:8448", true, "a.b_c=d-e/f+g", "example.org:8448", true},
	{"@bob:[::1]:8448", true, "bob", "[::1]:8448", true},
	// Historical user IDs must be accepted, but are not compliant.
	{"@Alice:example.org", true, "Alice", "example.org", true},
	{"@:example.org", true, "", "example.org", false},
	{"@a b:example.org", true, "a b", "example.org", false},
	{"@日本:example.org", true, "日本", "example.org", false},
	{"@\x01:example.org", true, "\x01", "example.org", false},
	{"@" + strings.Repeat("a", 242) + ":example.org", true, strings.Repeat("a", 242), "example.org", true}, // 255 bytes

	{"", false, "", "", false},
	{"alice:example.org", false, "", "", false},
	{"#alice:example.org", false, "", "", false},
	{"@alice", false, "", "", false},
	{"@alice:", false, "", "", false},
	{"@alice:exa mple.org", false, "", "", false},
	{"@a\x00b:example.org", false, "", "", false},
	{"@a\xffb:example.org", false, "", "", false},
	{"@" + strings.Repeat("a", 243) + ":example.org", false, "", "", false}, // 256 bytes
}

func TestParseUserID(t *testing.T) {
	for _, tt := range userIDTests {
		got, err := ParseUserID(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ParseUserID(%q) = %q, %v; want ok=%v", tt.in, got, err, tt.ok)
			continue
		}
		if !tt.ok {
			var idErr *IDError
			if !errors.As(err, &idErr) || idErr.Kind != "user ID" {
				t.Errorf("ParseUserID(%q) error = %#v; want *IDError of kind user ID", tt.in, err)
			}
			continue
		}
		if got.Localpart() != tt.localpart || got.Server() != tt.server || got.IsCompliant() != tt.compliant {
			t.Errorf("ParseUserID(%q) = %q, %q, compliant %v; want %q, %q, %v", tt.in,
				got.Localpart(), got.Server(), got.IsCompliant(), tt.localpart, tt.server, tt.compliant)
		}
	}
}

func TestValidateLocalpart(t *testing.T) {
	for lp, ok := range map[string]bool{
		"alice": true, "a.b_c=d-e/f+g": true, "0123456789": true,
		"": false, "Alice": false, "a b": false, "a:b": false, "é": false, "a*": false, "a@b": false,
	} {
		if err := ValidateLocalpart(lp); (err == nil) != ok {
			t.Errorf("ValidateLocalpart(%q) = %v; want ok=%v", lp, err, ok)
		}
	}
	if got, err := NewUserID("alice", "example.org"); err != nil || got != "@alice:example.org" {
		t.Errorf(`NewUserID("alice", "example.org") = %q, %v`, got, err)
	}
	if _, err := NewUserID(strings.Repeat("a", 250), "example.org"); err == nil {
		t.Errorf("NewUserID(250 bytes) succeeded; want length error")
	}
}

var roomIDTests = []struct {
	in          string
	ok          bool
	server      ServerName
	hashBased   bool
	createEvent EventID
}{
	{"!abc123:matrix.org", true, "matrix.org", false, ""},
	{"!x:domain", true, "domain", false, ""},
	{"!OGEhHVWSdvArJzumhm:matrix.org:8448", true, "matrix.org:8448", false, ""},
	{"!日本 \x01:example.org", true, "example.org", false, ""},
	{"!:example.org", true, "example.org", false, ""},
	{"!Nhcu5BS-UMnFX7hBVfVSoXiD7OgH6iRT-xyIuqDnpYQ", true, "", true, "$Nhcu5BS-UMnFX7hBVfVSoXiD7OgH6iRT-xyIuqDnpYQ"},

	{"", false, "", false, ""},
	{"!", false, "", false, ""},
	{"abc:matrix.org", false, "", false, ""},
	{"!abc", false, "", false, ""},
	{"!Nhcu5BS+UMnFX7hBVfVSoXiD7OgH6iRT+xyIuqDnpYQ", false, "", false, ""},  // standard alphabet
	{"!Nhcu5BS-UMnFX7hBVfVSoXiD7OgH6iRT-xyIuqDnpYR", false, "", false, ""},  // stray bits
	{"!Nhcu5BS-UMnFX7hBVfVSoXiD7OgH6iRT-xyIuqDnpYQ=", false, "", false, ""}, // padded
	{"!a\x00b:example.org", false, "", false, ""},
	{"!abc:bad_server", false, "", false, ""},
	{"!" + strings.Repeat("a", 250) + ":x.org", false, "", false, ""},
}

func TestParseRoomID(t *testing.T) {
	for _, tt := range roomIDTests {
		got, err := ParseRoomID(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ParseRoomID(%q) = %q, %v; want ok=%v", tt.in, got, err, tt.ok)
			continue
		}
		if tt.ok && (got.Server() != tt.server || got.IsHashBased() != tt.hashBased || got.EventID() != tt.createEvent) {
			t.Errorf("ParseRoomID(%q) = server %q, hash-based %v, event %q; want %q, %v, %q", tt.in,
				got.Server(), got.IsHashBased(), got.EventID(), tt.server, tt.hashBased, tt.createEvent)
		}
	}
}

func TestParseEventID(t *testing.T) {
	for in, ok := range map[string]bool{
		"$a4ecee13e2accdadf56c1025:example.com":        true,
		"$CD66HAED5npg6074c6pDtLKalHjVfYb2q4Q3LZgrW6o": true,
		"$Rqnc-F-dvnEYJTyHq_iKxU2bZ1CI92-kuZq3a5lr5Zg": true,
		"$def/456+oldevent":                            true,
		"$" + strings.Repeat("a", 254):                 true,
		"$" + strings.Repeat("a", 255):                 false,
		"":                                             false,
		"$":                                            false,
		"abc":                                          false,
		"$a\x00":                                       false,
		"$a\xff":                                       false,
	} {
		if _, err := ParseEventID(in); (err == nil) != ok {
			t.Errorf("ParseEventID(%q) = %v; want ok=%v", in, err, ok)
		}
	}
	if got := EventID("$abc:example.com").Server(); got != "example.com" {
		t.Errorf("EventID.Server() = %q; want example.com", got)
	}
	if got := EventID("$abc").Server(); got != "" {
		t.Errorf("EventID.Server() = %q; want empty", got)
	}
}

func TestParseRoomAlias(t *testing.T) {
	for in, ok := range map[string]bool{
		"#room:example.org":      true,
		"#Räume und so:x.org:80": true,
		"#:example.org":          true,
		"room:example.org":       false,
		"#room":                  false,
		"#ro\x00om:example.org":  false,
		"#room:":                 false,
		"#" + strings.Repeat("a", 250) + ":x.org": false,
	} {
		if _, err := ParseRoomAlias(in); (err == nil) != ok {
			t.Errorf("ParseRoomAlias(%q) = %v; want ok=%v", in, err, ok)
		}
	}
	a := RoomAlias("#room:example.org")
	if a.Localpart() != "room" || a.Server() != "example.org" {
		t.Errorf("RoomAlias parts = %q, %q", a.Localpart(), a.Server())
	}
}
