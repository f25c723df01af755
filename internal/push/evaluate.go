package push

import (
	"encoding/json"
	"sync"
)

// Result is what a user's rules decided for an event.
type Result struct {
	RuleID    string // the rule that matched; empty if none did
	Notify    bool
	Highlight bool
	Actions   json.RawMessage // the matched rule's actions, a JSON array
}

// compiledRule is a rule ready to evaluate.
type compiledRule struct {
	id      string
	enabled bool
	conds   []cond
	result  Result
}

// Compiled is a user's whole ruleset, compiled once and evaluated for
// every event in their rooms. It is immutable and safe for concurrent use.
type Compiled struct {
	rules []compiledRule // in evaluation order
	// usesDisplayName: some rule has a contains_display_name condition.
	usesDisplayName bool
}

// UsesDisplayName reports whether evaluating needs the user's display name.
func (c *Compiled) UsesDisplayName() bool { return c.usesDisplayName }

// Compile compiles a ruleset as the user sees it. Conditions that cannot be
// understood never match; so a rule with one is effectively disabled.
func Compile(rs Ruleset) *Compiled {
	return compile(rs, false)
}

var (
	sharedDefaultsOnce sync.Once
	sharedDefaults     *Compiled
)

// compiledDefaults returns the server-default ruleset compiled once for
// everyone: conditions about the user's own ID are bound at evaluation.
func compiledDefaults() *Compiled {
	sharedDefaultsOnce.Do(func() { sharedDefaults = compile(Defaults(selfPlaceholder), true) })
	return sharedDefaults
}

// CompileUser compiles a user's rules. A user who changed nothing shares
// one compiled default ruleset with everybody else.
func CompileUser(userID string, u *UserRules) *Compiled {
	if u == nil || (len(u.Rules) == 0 && len(u.Defaults) == 0) {
		return compiledDefaults()
	}
	return compile(u.Ruleset(userID), false)
}

func compile(rs Ruleset, withSelf bool) *Compiled {
	c := &Compiled{}
	for _, k := range Kinds {
		for _, r := range rs.Of(k) {
			cr := compiledRule{id: r.RuleID, enabled: r.Enabled, result: resultOf(r)}
			switch k {
			case Override, Underride:
				for _, raw := range r.Conditions {
					cd := compileCondition(raw, withSelf)
					if cd.kind == condDisplayName {
						c.usesDisplayName = true
					}
					cr.conds = append(cr.conds, cd)
				}
			case Content:
				if r.Pattern == nil {
					cr.conds = []cond{{}} // never matches
				} else {
					cr.conds = []cond{{kind: condEventMatch, path: []string{"content", "body"},
						glob: compileGlob(*r.Pattern, true)}}
				}
			case Room:
				cr.conds = []cond{{kind: condRoomIs, key: r.RuleID}}
			case Sender:
				cr.conds = []cond{{kind: condSenderIs, key: r.RuleID}}
			}
			c.rules = append(c.rules, cr)
		}
	}
	return c
}

// resultOf reads a rule's actions: notify, and the highlight tweak ("If a
// highlight tweak is given with no value, its value is defined to be true").
func resultOf(r Rule) Result {
	res := Result{RuleID: r.RuleID}
	actions := r.Actions
	if actions == nil {
		actions = []json.RawMessage{}
	}
	res.Actions, _ = json.Marshal(actions)
	for _, a := range r.Actions {
		var s string
		if json.Unmarshal(a, &s) == nil {
			res.Notify = res.Notify || s == "notify"
			continue
		}
		var t struct {
			SetTweak string           `json:"set_tweak"`
			Value    *json.RawMessage `json:"value"`
		}
		if json.Unmarshal(a, &t) == nil && t.SetTweak == "highlight" {
			res.Highlight = t.Value == nil || string(*t.Value) == "true"
		}
	}
	return res
}

// Evaluate returns the actions of the first enabled rule whose conditions
// all hold for the event, as the user userID sees it ("Push Rules": rules
// are checked by kind, then by priority; "Only actions for highest priority
// rule" apply). displayName, which may be nil, is called only if a rule
// needs it.
func (c *Compiled) Evaluate(e *Event, room *RoomContext, userID string, displayName func() string) Result {
	return c.evaluate(e, room, &userContext{id: userID, self: true, displayName: displayName})
}

func (c *Compiled) evaluate(e *Event, room *RoomContext, u *userContext) Result {
	for i := range c.rules {
		r := &c.rules[i]
		if !r.enabled {
			continue
		}
		ok := true
		for j := range r.conds {
			if !r.conds[j].match(e, room, u) {
				ok = false
				break
			}
		}
		if ok {
			return r.result
		}
	}
	return Result{}
}
