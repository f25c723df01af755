// Package push implements push rules ("Push Notifications" in the
// client-server API): the spec's server-default ruleset, each user's own
// rules and changes to the defaults, and the evaluation that decides, for
// every local member of a room, whether a new event notifies them and
// whether it is highlighted.
//
// A user's rules are kept as one JSON document (UserRules): the rules they
// added, in priority order, and the changes they made to server-default
// rules. The document is what the store keeps; the ruleset clients see
// (GET /pushrules, m.push_rules) is the document merged with the defaults.
package push

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"chappe.eu/chappe/internal/matrix"
)

// Kind is a push rule kind.
type Kind string

const (
	Override  Kind = "override"
	Content   Kind = "content"
	Room      Kind = "room"
	Sender    Kind = "sender"
	Underride Kind = "underride"
)

// Kinds lists the kinds in the order rules are checked.
var Kinds = [...]Kind{Override, Content, Room, Sender, Underride}

// ParseKind reads a kind from a request path.
func ParseKind(s string) (Kind, bool) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, true
		}
	}
	return "", false
}

// Rule is one push rule as clients see it. Conditions are kept as the JSON
// the client sent: a condition this server does not understand must still
// be stored and returned (it just never matches).
type Rule struct {
	Kind       Kind              `json:"-"`
	RuleID     string            `json:"rule_id"`
	Default    bool              `json:"default"`
	Enabled    bool              `json:"enabled"`
	Conditions []json.RawMessage `json:"conditions,omitempty"` // override and underride
	Pattern    *string           `json:"pattern,omitempty"`    // content
	Actions    []json.RawMessage `json:"actions"`
}

// MarshalJSON writes the keys the rule's kind has: conditions (always, even
// empty) for override and underride rules, pattern for content rules.
func (r Rule) MarshalJSON() ([]byte, error) {
	out := map[string]any{"rule_id": r.RuleID, "default": r.Default, "enabled": r.Enabled}
	actions := r.Actions
	if actions == nil {
		actions = []json.RawMessage{}
	}
	out["actions"] = actions
	switch r.Kind {
	case Override, Underride:
		conds := r.Conditions
		if conds == nil {
			conds = []json.RawMessage{}
		}
		out["conditions"] = conds
	case Content:
		if r.Pattern != nil {
			out["pattern"] = *r.Pattern
		}
	}
	return json.Marshal(out)
}

// Ruleset is the global ruleset: the body of GET /pushrules/global/ and the
// "global" of m.push_rules. Lists are never nil.
type Ruleset struct {
	Override  []Rule `json:"override"`
	Content   []Rule `json:"content"`
	Room      []Rule `json:"room"`
	Sender    []Rule `json:"sender"`
	Underride []Rule `json:"underride"`
}

// Of returns the rules of one kind, most important first.
func (rs Ruleset) Of(k Kind) []Rule {
	switch k {
	case Override:
		return rs.Override
	case Content:
		return rs.Content
	case Room:
		return rs.Room
	case Sender:
		return rs.Sender
	default:
		return rs.Underride
	}
}

func (rs *Ruleset) set(k Kind, rules []Rule) {
	if rules == nil {
		rules = []Rule{}
	}
	switch k {
	case Override:
		rs.Override = rules
	case Content:
		rs.Content = rules
	case Room:
		rs.Room = rules
	case Sender:
		rs.Sender = rules
	default:
		rs.Underride = rules
	}
}

// Find returns the rule of kind k with the given ID.
func (rs Ruleset) Find(k Kind, ruleID string) (Rule, bool) {
	for _, r := range rs.Of(k) {
		if r.RuleID == ruleID {
			return r, true
		}
	}
	return Rule{}, false
}

// UserRules is what a user changed: the rules they added, per kind and most
// important first, and their changes to server-default rules by rule ID.
// The zero value is a user who changed nothing.
type UserRules struct {
	Rules    map[Kind][]Rule          `json:"rules,omitempty"`
	Defaults map[string]DefaultChange `json:"defaults,omitempty"`
}

// DefaultChange is a user's change to a server-default rule: only enabled
// and actions may change. Nil fields keep the default.
type DefaultChange struct {
	Enabled *bool           `json:"enabled,omitempty"`
	Actions json.RawMessage `json:"actions,omitempty"` // a JSON array; [] mutes the rule
}

// ParseUserRules reads a stored document; nil or empty data is a user who
// changed nothing.
func ParseUserRules(data []byte) (*UserRules, error) {
	u := &UserRules{}
	if len(bytes.TrimSpace(data)) == 0 {
		return u, nil
	}
	if err := json.Unmarshal(data, u); err != nil {
		return nil, err
	}
	for k, rules := range u.Rules {
		for i := range rules {
			rules[i].Kind = k
			rules[i].Default = false
		}
	}
	return u, nil
}

// Encode returns the document to store.
func (u *UserRules) Encode() ([]byte, error) { return json.Marshal(u) }

// Ruleset merges the user's changes with the server-default rules, in the
// order the spec gives: .m.rule.master first, then for each kind the
// user's rules before the server-default ones ("Predefined Rules": defaults
// "operate at a lower priority than user-defined rules, except for the
// .m.rule.master rule").
func (u *UserRules) Ruleset(userID string) Ruleset {
	defaults := Defaults(userID)
	var rs Ruleset
	for _, k := range Kinds {
		var out []Rule
		base := defaults.Of(k)
		if k == Override && len(base) > 0 && base[0].RuleID == masterRuleID {
			out = append(out, u.applyDefault(base[0]))
			base = base[1:]
		}
		out = append(out, u.Rules[k]...)
		for _, r := range base {
			out = append(out, u.applyDefault(r))
		}
		rs.set(k, out)
	}
	return rs
}

func (u *UserRules) applyDefault(r Rule) Rule {
	c, ok := u.Defaults[r.RuleID]
	if !ok {
		return r
	}
	if c.Enabled != nil {
		r.Enabled = *c.Enabled
	}
	if c.Actions != nil {
		var actions []json.RawMessage
		if json.Unmarshal(c.Actions, &actions) == nil {
			r.Actions = actions
		}
	}
	return r
}

var errRuleNotFound = matrix.NotFound("The push rule was not found.")

// IsDefaultID reports whether a rule ID is reserved for server-default rules.
func IsDefaultID(ruleID string) bool { return strings.HasPrefix(ruleID, ".") }

// MaxUserRules caps the rules one user may add, and MaxRuleBytes the JSON
// of one rule: every rule is evaluated for every event in the user's rooms.
// NOTSPEC: the spec sets no limit; these are far above what clients use
// (Element adds one rule per muted room or keyword).
const (
	MaxUserRules = 1000
	MaxRuleBytes = 16 << 10
	maxRuleIDLen = 255
)

// Put adds or replaces one of the user's own rules ("PUT
// /pushrules/global/{kind}/{ruleId}"). With before (or, failing that,
// after) the rule is placed next to that user rule; with neither it becomes
// the most important user rule of its kind. A rule that exists is moved
// there too and keeps its enabled state: the spec only says where a new
// rule goes; Synapse moves an updated rule the same way.
func (u *UserRules) Put(r Rule, before, after string) error {
	if r.Default || IsDefaultID(r.RuleID) {
		return matrix.InvalidParam("Rule IDs starting with '.' are reserved for server-default rules")
	}
	rules := u.Rules[r.Kind]
	i := slices.IndexFunc(rules, func(x Rule) bool { return x.RuleID == r.RuleID })
	if i >= 0 {
		r.Enabled = rules[i].Enabled
		rules = slices.Delete(slices.Clone(rules), i, i+1)
	} else {
		r.Enabled = true // spec: "When creating push rules, they MUST be enabled by default."
		if countRules(u) >= MaxUserRules {
			return matrix.Errorf(http.StatusBadRequest, matrix.ErrLimitExceeded, "Too many push rules (at most %d)", MaxUserRules)
		}
	}
	at := 0
	if before != "" || after != "" {
		ref, place := before, 0
		if before == "" {
			ref, place = after, 1
		}
		j := slices.IndexFunc(rules, func(x Rule) bool { return x.RuleID == ref })
		if j < 0 {
			// The error the spec's example gives.
			return matrix.Errorf(http.StatusBadRequest, matrix.ErrUnknown, "before/after rule not found: %s", ref)
		}
		at = j + place
	}
	if u.Rules == nil {
		u.Rules = map[Kind][]Rule{}
	}
	u.Rules[r.Kind] = slices.Insert(rules, at, r)
	return nil
}

func countRules(u *UserRules) int {
	n := 0
	for _, rules := range u.Rules {
		n += len(rules)
	}
	return n
}

// Delete removes one of the user's own rules. Server-default rules cannot
// be deleted, only disabled.
func (u *UserRules) Delete(userID string, k Kind, ruleID string) error {
	rules := u.Rules[k]
	i := slices.IndexFunc(rules, func(x Rule) bool { return x.RuleID == ruleID })
	if i < 0 {
		if _, ok := Defaults(userID).Find(k, ruleID); ok {
			return matrix.InvalidParam("Server-default rules cannot be deleted; disable them instead")
		}
		return errRuleNotFound
	}
	u.Rules[k] = slices.Delete(slices.Clone(rules), i, i+1)
	if len(u.Rules[k]) == 0 {
		delete(u.Rules, k)
	}
	return nil
}

// SetEnabled enables or disables a rule, the user's or a server default.
func (u *UserRules) SetEnabled(userID string, k Kind, ruleID string, enabled bool) error {
	return u.change(userID, k, ruleID, func(r *Rule) { r.Enabled = enabled },
		func(c *DefaultChange) { c.Enabled = &enabled })
}

// SetActions replaces a rule's actions, the user's or a server default's.
func (u *UserRules) SetActions(userID string, k Kind, ruleID string, actions []json.RawMessage) error {
	raw, err := json.Marshal(actions)
	if err != nil {
		return err
	}
	return u.change(userID, k, ruleID, func(r *Rule) { r.Actions = actions },
		func(c *DefaultChange) { c.Actions = raw })
}

func (u *UserRules) change(userID string, k Kind, ruleID string, own func(*Rule), def func(*DefaultChange)) error {
	if rules := u.Rules[k]; rules != nil {
		if i := slices.IndexFunc(rules, func(x Rule) bool { return x.RuleID == ruleID }); i >= 0 {
			rules = slices.Clone(rules)
			own(&rules[i])
			u.Rules[k] = rules
			return nil
		}
	}
	if _, ok := Defaults(userID).Find(k, ruleID); !ok {
		return errRuleNotFound
	}
	if u.Defaults == nil {
		u.Defaults = map[string]DefaultChange{}
	}
	c := u.Defaults[ruleID]
	def(&c)
	u.Defaults[ruleID] = c
	return nil
}

// ValidateRuleID checks a rule ID from a request path for PUT: the spec
// forbids a leading dot (reserved for server-default rules), slashes and
// backslashes.
func ValidateRuleID(id string) error {
	switch {
	case id == "":
		return matrix.InvalidParam("The rule ID must not be empty")
	case IsDefaultID(id):
		return matrix.InvalidParam("Rule IDs starting with '.' are reserved for server-default rules")
	case strings.ContainsAny(id, "/\\"):
		return matrix.InvalidParam("Rule IDs may not contain slashes or backslashes")
	case len(id) > maxRuleIDLen, !utf8.ValidString(id), strings.IndexByte(id, 0) >= 0:
		return matrix.InvalidParam("Invalid rule ID")
	}
	return nil
}

// ParseRuleBody reads the body of PUT /pushrules/global/{kind}/{ruleId}:
// actions always; conditions for override and underride rules (absent
// means none: "A rule with no conditions always matches"); pattern for
// content rules.
func ParseRuleBody(k Kind, ruleID string, body []byte) (Rule, error) {
	if len(body) > MaxRuleBytes {
		return Rule{}, matrix.Errorf(http.StatusBadRequest, matrix.ErrTooLarge, "A push rule is at most %d bytes", MaxRuleBytes)
	}
	var req struct {
		Actions    json.RawMessage `json:"actions"`
		Conditions json.RawMessage `json:"conditions"`
		Pattern    json.RawMessage `json:"pattern"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return Rule{}, matrix.BadJSON("The push rule must be a JSON object")
	}
	if isAbsent(req.Actions) {
		return Rule{}, matrix.MissingParam("Missing actions")
	}
	actions, err := ParseActions(req.Actions)
	if err != nil {
		return Rule{}, err
	}
	r := Rule{Kind: k, RuleID: ruleID, Enabled: true, Actions: actions}
	switch k {
	case Override, Underride:
		if !isAbsent(req.Conditions) {
			if r.Conditions, err = parseConditions(req.Conditions); err != nil {
				return Rule{}, err
			}
		}
	case Content:
		var p string
		if isAbsent(req.Pattern) {
			return Rule{}, matrix.MissingParam("Content rules need a pattern")
		}
		if json.Unmarshal(req.Pattern, &p) != nil {
			return Rule{}, matrix.BadJSON("pattern must be a string")
		}
		r.Pattern = &p
	}
	return r, nil
}

func isAbsent(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }

// ParseActions validates an actions array and strips the historical
// dont_notify and coalesce, which "Clients and homeservers MUST ignore".
// An action is "notify" or an object naming a tweak with set_tweak; like
// Synapse, anything else is refused.
func ParseActions(raw json.RawMessage) ([]json.RawMessage, error) {
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, matrix.BadJSON("actions must be an array")
	}
	out := make([]json.RawMessage, 0, len(list))
	for _, a := range list {
		var s string
		if json.Unmarshal(a, &s) == nil {
			switch s {
			case "notify":
				out = append(out, json.RawMessage(`"notify"`))
			case "dont_notify", "coalesce":
			default:
				return nil, matrix.InvalidParam("Unrecognised action %q", s)
			}
			continue
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(a, &obj) != nil {
			return nil, matrix.InvalidParam("An action is a string or an object")
		}
		var tweak string
		if json.Unmarshal(obj["set_tweak"], &tweak) != nil || tweak == "" {
			return nil, matrix.InvalidParam("An action object needs a set_tweak string")
		}
		compact, err := compactJSON(a)
		if err != nil {
			return nil, matrix.BadJSON("Invalid action")
		}
		out = append(out, compact)
	}
	return out, nil
}

// parseConditions checks that conditions is an array of objects with a
// string kind. Unknown kinds, and known kinds without their parameters,
// are stored as sent and never match, as the spec requires of unrecognised
// conditions.
func parseConditions(raw json.RawMessage) ([]json.RawMessage, error) {
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, matrix.BadJSON("conditions must be an array")
	}
	out := make([]json.RawMessage, 0, len(list))
	for _, c := range list {
		var obj map[string]json.RawMessage
		if json.Unmarshal(c, &obj) != nil {
			return nil, matrix.BadJSON("Each condition must be an object")
		}
		var kind string
		if json.Unmarshal(obj["kind"], &kind) != nil || kind == "" {
			return nil, matrix.BadJSON("Each condition needs a kind")
		}
		compact, err := compactJSON(c)
		if err != nil {
			return nil, matrix.BadJSON("Invalid condition")
		}
		out = append(out, compact)
	}
	return out, nil
}

func compactJSON(raw []byte) (json.RawMessage, error) {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
