package push

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
)

// Event is an event prepared for matching: its JSON decoded once, shared
// by every user the event is evaluated for.
type Event struct {
	root   map[string]any
	RoomID string
	Sender string
	// strs holds every string value in the event, lower-cased: a user whose
	// ID is not among them cannot match a condition about their own ID,
	// which lets the evaluator share one result among such users.
	strs map[string]struct{}
}

// ParseEvent decodes an event's JSON (a PDU, or a client event).
func ParseEvent(data []byte) (*Event, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var root map[string]any
	if err := d.Decode(&root); err != nil {
		return nil, err
	}
	e := &Event{root: root, strs: map[string]struct{}{}}
	e.RoomID, _ = root["room_id"].(string)
	e.Sender, _ = root["sender"].(string)
	e.collect(root)
	return e, nil
}

func (e *Event) collect(v any) {
	switch v := v.(type) {
	case string:
		e.strs[strings.ToLower(v)] = struct{}{}
	case map[string]any:
		for _, x := range v {
			e.collect(x)
		}
	case []any:
		for _, x := range v {
			e.collect(x)
		}
	}
}

// mentionsString reports whether s (case-insensitively) is one of the
// event's string values.
func (e *Event) mentionsString(s string) bool {
	_, ok := e.strs[strings.ToLower(s)]
	return ok
}

// SplitPath splits a dot-separated property path ("Dot-separated property
// paths" in the appendices): a dot or backslash in a property name is
// escaped with a backslash; any other escape stays as written.
func SplitPath(key string) []string {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c == '\\' && i+1 < len(key) && (key[i+1] == '.' || key[i+1] == '\\'):
			cur.WriteByte(key[i+1])
			i++
		case c == '.':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return append(parts, cur.String())
}

// lookup returns the value at path, and whether it is there at all.
func (e *Event) lookup(path []string) (any, bool) {
	var v any = e.root
	for _, p := range path {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = obj[p]; !ok {
			return nil, false
		}
	}
	return v, true
}

// glob is a compiled glob-style pattern ("Glob-style matching": * matches
// zero or more characters, ? exactly one), matched case-insensitively.
type glob struct {
	literal string         // the pattern, when it has no wildcard
	re      *regexp.Regexp // otherwise, or for word matching
}

// wordClass is the complement of the spec's word characters: a word
// boundary is the start or end of the value or any character not in
// [A-Za-z0-9_].
const wordClass = `[^A-Za-z0-9_]`

// compileGlob compiles a pattern that must match the whole value, or, with
// words, any substring that starts and ends at a word boundary (for
// content.body).
func compileGlob(pattern string, words bool) glob {
	if !words && !strings.ContainsAny(pattern, "*?") {
		return glob{literal: pattern}
	}
	var b strings.Builder
	for _, r := range pattern {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	expr := `(?is:^` + b.String() + `$)`
	if words {
		// Only the pattern is case-insensitive: the boundary is exactly
		// the spec's ASCII set.
		expr = `(?:^|` + wordClass + `)(?is:` + b.String() + `)(?:` + wordClass + `|$)`
	}
	return glob{re: regexp.MustCompile(expr)}
}

func (g glob) match(s string) bool {
	if g.re == nil {
		return strings.EqualFold(g.literal, s)
	}
	return g.re.MatchString(s)
}

// value is a non-compound canonical JSON value from a condition:
// a string, an integer in the canonical range, a boolean or null.
type value struct {
	kind byte // 's', 'i', 'b', 'n'
	s    string
	i    int64
	b    bool
}

const maxSafeInt = 1<<53 - 1

// parseValue reads a condition's value; ok is false for anything that is
// not a non-compound canonical JSON value (such a condition never matches).
func parseValue(raw json.RawMessage) (value, bool) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if len(raw) == 0 || d.Decode(&v) != nil {
		return value{}, false
	}
	return fromJSON(v)
}

func fromJSON(v any) (value, bool) {
	switch v := v.(type) {
	case string:
		return value{kind: 's', s: v}, true
	case bool:
		return value{kind: 'b', b: v}, true
	case nil:
		return value{kind: 'n'}, true
	case json.Number:
		i, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil || i > maxSafeInt || i < -maxSafeInt {
			return value{}, false
		}
		return value{kind: 'i', i: i}, true
	}
	return value{}, false
}

func (x value) equal(v any) bool {
	y, ok := fromJSON(v)
	return ok && x == y
}

// condKind is what a compiled condition tests.
type condKind int

const (
	condNever condKind = iota // unknown kinds and malformed conditions
	condEventMatch
	condPropertyIs
	condPropertyContains
	condDisplayName
	condMemberCount
	condSenderPermission
	condRoomIs   // room rules
	condSenderIs // sender rules
)

// cond is a compiled condition.
type cond struct {
	kind condKind
	path []string
	glob glob
	val  value
	// self: the pattern (event_match) or value (event_property_contains)
	// is the evaluated user's ID, in the shared default rules.
	self bool
	op   string // room_member_count: "==", "<", ">", "<=", ">="
	n    int64
	key  string // sender_notification_permission; room or user ID for condRoomIs/condSenderIs
}

var memberCountRe = regexp.MustCompile(`^(==|<|>|<=|>=)?([0-9]+)$`)

// compileCondition compiles one condition's JSON; withSelf recognises
// selfPlaceholder (only in the server-default rules).
func compileCondition(raw json.RawMessage, withSelf bool) cond {
	var c struct {
		Kind    string          `json:"kind"`
		Key     *string         `json:"key"`
		Pattern *string         `json:"pattern"`
		Is      *string         `json:"is"`
		Value   json.RawMessage `json:"value"`
	}
	if json.Unmarshal(raw, &c) != nil {
		return cond{}
	}
	switch c.Kind {
	case "event_match":
		if c.Key == nil || c.Pattern == nil {
			return cond{}
		}
		out := cond{kind: condEventMatch, path: SplitPath(*c.Key)}
		if withSelf && *c.Pattern == selfPlaceholder {
			out.self = true
			return out
		}
		out.glob = compileGlob(*c.Pattern, *c.Key == "content.body")
		return out
	case "event_property_is", "event_property_contains":
		if c.Key == nil {
			return cond{}
		}
		out := cond{kind: condPropertyIs, path: SplitPath(*c.Key)}
		if c.Kind == "event_property_contains" {
			out.kind = condPropertyContains
		}
		if withSelf && string(c.Value) == `"`+selfPlaceholder+`"` {
			out.self = true
			return out
		}
		v, ok := parseValue(c.Value)
		if !ok {
			return cond{}
		}
		out.val = v
		return out
	case "contains_display_name":
		return cond{kind: condDisplayName}
	case "room_member_count":
		if c.Is == nil {
			return cond{}
		}
		m := memberCountRe.FindStringSubmatch(*c.Is)
		if m == nil {
			return cond{}
		}
		n, err := strconv.ParseInt(m[2], 10, 64)
		if err != nil {
			return cond{}
		}
		op := m[1]
		if op == "" {
			op = "==" // spec: "If no prefix is present, this parameter defaults to =="
		}
		return cond{kind: condMemberCount, op: op, n: n}
	case "sender_notification_permission":
		if c.Key == nil {
			return cond{}
		}
		return cond{kind: condSenderPermission, key: *c.Key}
	}
	return cond{}
}

// RoomContext is what conditions need to know about the room: the same for
// every user an event is evaluated for.
type RoomContext struct {
	// MemberCount is the number of joined members.
	MemberCount int
	// SenderLevel is the sender's power level.
	SenderLevel int64
	// NotificationLevel returns the level the power levels' notifications
	// require for a key.
	NotificationLevel func(key string) int64
}

// userContext is the user an event is evaluated for. self is false for the
// shared evaluation of users who do not appear in the event, where every
// condition about the user's own ID is false.
type userContext struct {
	id          string
	self        bool
	displayName func() string
}

func (c *cond) match(e *Event, room *RoomContext, u *userContext) bool {
	switch c.kind {
	case condEventMatch:
		v, ok := e.lookup(c.path)
		s, isString := v.(string)
		if !ok || !isString {
			return false // spec: absent or not a string never matches, even "*"
		}
		if c.self {
			return u.self && strings.EqualFold(s, u.id)
		}
		return c.glob.match(s)
	case condPropertyIs:
		v, ok := e.lookup(c.path)
		if !ok {
			return false
		}
		if c.self {
			return u.self && v == any(u.id)
		}
		return c.val.equal(v)
	case condPropertyContains:
		v, ok := e.lookup(c.path)
		list, isList := v.([]any)
		if !ok || !isList {
			return false
		}
		for _, x := range list {
			if c.self {
				if u.self && x == any(u.id) {
					return true
				}
			} else if c.val.equal(x) {
				return true
			}
		}
		return false
	case condDisplayName:
		body, _ := e.lookup([]string{"content", "body"})
		s, ok := body.(string)
		if !ok || u.displayName == nil {
			return false
		}
		name := u.displayName()
		if name == "" {
			return false
		}
		// Like Synapse: the display name is matched literally, as a
		// whole word, case-insensitively.
		re, err := regexp.Compile(`(?:^|` + wordClass + `)(?i:` + regexp.QuoteMeta(name) + `)(?:` + wordClass + `|$)`)
		return err == nil && re.MatchString(s)
	case condMemberCount:
		n := int64(room.MemberCount)
		switch c.op {
		case "==":
			return n == c.n
		case "<":
			return n < c.n
		case ">":
			return n > c.n
		case "<=":
			return n <= c.n
		case ">=":
			return n >= c.n
		}
	case condSenderPermission:
		if room.NotificationLevel == nil {
			return false
		}
		return room.SenderLevel >= room.NotificationLevel(c.key)
	case condRoomIs:
		return e.RoomID == c.key
	case condSenderIs:
		return e.Sender == c.key
	}
	return false
}
