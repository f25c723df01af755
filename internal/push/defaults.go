package push

import (
	"encoding/json"
	"strings"
)

// The server-default rules of the spec ("Predefined Rules"), in its order.
// Since v1.17 the spec no longer lists the legacy rules that looked for
// mentions in the body (.m.rule.contains_display_name,
// .m.rule.contains_user_name, .m.rule.roomnotif): mentions are
// m.mentions, matched by .m.rule.is_user_mention and
// .m.rule.is_room_mention. Polls and other unstable rules Synapse adds are
// not in the spec and not here.

const masterRuleID = ".m.rule.master"

// selfPlaceholder stands for the user's Matrix ID in the default rules'
// conditions. It cannot be a user ID (it has no colon), so compiling the
// shared defaults can recognise it (see compileDefaults).
const selfPlaceholder = "[the user's Matrix ID]"

type defaultRule struct {
	kind    Kind
	id      string
	enabled bool
	conds   []string // JSON
	actions []string // JSON
}

const (
	aNotify       = `"notify"`
	aSoundDefault = `{"set_tweak":"sound","value":"default"}`
	aSoundRing    = `{"set_tweak":"sound","value":"ring"}`
	aHighlight    = `{"set_tweak":"highlight"}`
)

var defaultRules = []defaultRule{
	{Override, masterRuleID, false, nil, nil},
	{Override, ".m.rule.suppress_notices", true,
		[]string{`{"kind":"event_match","key":"content.msgtype","pattern":"m.notice"}`}, nil},
	{Override, ".m.rule.invite_for_me", true,
		[]string{`{"kind":"event_match","key":"type","pattern":"m.room.member"}`,
			`{"kind":"event_match","key":"content.membership","pattern":"invite"}`,
			`{"kind":"event_match","key":"state_key","pattern":"` + selfPlaceholder + `"}`},
		[]string{aNotify, aSoundDefault}},
	{Override, ".m.rule.member_event", true,
		[]string{`{"kind":"event_match","key":"type","pattern":"m.room.member"}`}, nil},
	{Override, ".m.rule.is_user_mention", true,
		[]string{`{"kind":"event_property_contains","key":"content.m\\.mentions.user_ids","value":"` + selfPlaceholder + `"}`},
		[]string{aNotify, aSoundDefault, aHighlight}},
	{Override, ".m.rule.is_room_mention", true,
		[]string{`{"kind":"event_property_is","key":"content.m\\.mentions.room","value":true}`,
			`{"kind":"sender_notification_permission","key":"room"}`},
		[]string{aNotify, aHighlight}},
	{Override, ".m.rule.tombstone", true,
		[]string{`{"kind":"event_match","key":"type","pattern":"m.room.tombstone"}`,
			`{"kind":"event_match","key":"state_key","pattern":""}`},
		[]string{aNotify, aHighlight}},
	{Override, ".m.rule.reaction", true,
		[]string{`{"kind":"event_match","key":"type","pattern":"m.reaction"}`}, nil},
	{Override, ".m.rule.room.server_acl", true,
		[]string{`{"kind":"event_match","key":"type","pattern":"m.room.server_acl"}`,
			`{"kind":"event_match","key":"state_key","pattern":""}`}, nil},
	{Override, ".m.rule.suppress_edits", true,
		[]string{`{"kind":"event_property_is","key":"content.m\\.relates_to.rel_type","value":"m.replace"}`}, nil},

	{Underride, ".m.rule.call", true,
		[]string{`{"kind":"event_match","key":"type","pattern":"m.call.invite"}`},
		[]string{aNotify, aSoundRing}},
	{Underride, ".m.rule.encrypted_room_one_to_one", true,
		[]string{`{"kind":"room_member_count","is":"2"}`,
			`{"kind":"event_match","key":"type","pattern":"m.room.encrypted"}`},
		[]string{aNotify, aSoundDefault}},
	{Underride, ".m.rule.room_one_to_one", true,
		[]string{`{"kind":"room_member_count","is":"2"}`,
			`{"kind":"event_match","key":"type","pattern":"m.room.message"}`},
		[]string{aNotify, aSoundDefault}},
	{Underride, ".m.rule.message", true,
		[]string{`{"kind":"event_match","key":"type","pattern":"m.room.message"}`},
		[]string{aNotify}},
	{Underride, ".m.rule.encrypted", true,
		[]string{`{"kind":"event_match","key":"type","pattern":"m.room.encrypted"}`},
		[]string{aNotify}},
}

// Defaults returns the server-default ruleset for a user, with their
// Matrix ID where the spec's definitions say "[the user's Matrix ID]".
func Defaults(userID string) Ruleset {
	var rs Ruleset
	byKind := map[Kind][]Rule{}
	for _, d := range defaultRules {
		byKind[d.kind] = append(byKind[d.kind], d.rule(userID))
	}
	for _, k := range Kinds {
		rs.set(k, byKind[k])
	}
	return rs
}

func (d defaultRule) rule(userID string) Rule {
	r := Rule{Kind: d.kind, RuleID: d.id, Default: true, Enabled: d.enabled,
		Conditions: []json.RawMessage{}, Actions: []json.RawMessage{}}
	// A user ID needs no JSON escaping beyond what the grammar allows, but
	// historical IDs may hold a quote or backslash: encode it properly.
	quoted, _ := json.Marshal(userID)
	for _, c := range d.conds {
		c = strings.ReplaceAll(c, `"`+selfPlaceholder+`"`, string(quoted))
		r.Conditions = append(r.Conditions, json.RawMessage(c))
	}
	for _, a := range d.actions {
		r.Actions = append(r.Actions, json.RawMessage(a))
	}
	return r
}
