package rooms

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"maps"
	"net/http"
	"slices"

	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/room/auth"
	"chappe.eu/chappe/internal/room/event"
	"chappe.eu/chappe/internal/store"
)

// Room upgrades (spec: "Room Upgrades", server behaviour) and the power
// levels the directory's permission checks read.

// PowerLevels returns the room's current power levels, with the room's
// creators, or ErrUnknownRoom.
func (s *Service) PowerLevels(ctx context.Context, roomID string) (*auth.PowerLevels, error) {
	v, err := s.Version(ctx, roomID)
	if err != nil {
		return nil, err
	}
	state, err := s.currentAuthState(ctx, v, roomID, []event.StateKeyTuple{{Type: "m.room.power_levels"}})
	if err != nil {
		return nil, err
	}
	pl, _ := auth.ParsePowerLevels(state[event.StateKeyTuple{Type: "m.room.create"}], state[event.StateKeyTuple{Type: "m.room.power_levels"}])
	return pl, nil // a malformed content still gives usable levels
}

// UpgradeRequest asks to replace a room by a new room of another version.
type UpgradeRequest struct {
	RoomID     string
	Sender     string
	NewVersion string
	// AdditionalCreators become creators of the new room besides the
	// sender, when its version has privileged creators; else ignored.
	AdditionalCreators []string
}

// transferredState is the state copied to the replacement room, in the
// order it is sent there: the spec's recommended list, in createRoom's
// order (power levels go first, with the creator's join).
var transferredState = []string{
	"m.room.join_rules", "m.room.history_visibility", "m.room.guest_access",
	"m.room.server_acl", "m.room.encryption", "m.room.name", "m.room.topic", "m.room.avatar",
}

// UpgradeRoom replaces a room by a new one of version req.NewVersion and
// returns the new room's ID. As the spec's server behaviour says, it:
//
//  1. checks the sender may send m.room.tombstone in the old room;
//  2. creates the new room with predecessor (and the old room's type and
//     m.federate) in m.room.create;
//  3. copies the transferable state (transferredState, the power levels
//     and, like Synapse, bans and a space's children);
//  4. moves the local aliases, and the canonical alias, to the new room;
//  5. sends m.room.tombstone in the old room;
//  6. raises events_default and invite in the old room's power levels to
//     max(50, users_default+1), as Synapse does.
//
// The old room's place in the published room directory moves to the new
// room, as Synapse does. Everything is stored in one transaction.
//
// Power levels: the new room's are the old room's, rewritten with
// integers (string levels of old versions are not valid from v10). A
// creator of a room with privileged creators (v12) is not listed in its
// power levels; such a creator who does not become a creator of the new
// room gets the highest level named in the old levels (at least 100), the
// nearest a listed level comes to infinite power. The new room's creators
// are taken out of users when it has privileged creators. Like Synapse,
// the sender's level is raised while the state is copied if it is too
// low to send it, and put back afterwards.
//
// A repeated request (the sender already tombstoned the room in favour of
// a room of the version asked) returns the existing replacement, as
// Synapse's response cache does, so a retried upgrade does not make two
// rooms.
func (s *Service) UpgradeRoom(ctx context.Context, req UpgradeRequest) (string, error) {
	nv, ok := event.Version(req.NewVersion)
	if !ok {
		return "", matrix.Errorf(http.StatusBadRequest, matrix.ErrUnsupportedRoomVer, "Unsupported room version %q", req.NewVersion)
	}
	ov, err := s.Version(ctx, req.RoomID)
	if err != nil {
		return "", err
	}
	unlock := s.lockRoom(req.RoomID)
	defer unlock()

	old, err := s.loadUpgradeState(ctx, req.RoomID, req.Sender)
	if err != nil {
		return "", err
	}
	if id := s.existingReplacement(ctx, old, req.Sender, nv); id != "" {
		return id, nil
	}
	ob, err := s.roomBuilder(ctx, ov, req.RoomID, old.authState(req.Sender))
	if err != nil {
		return "", err
	}
	newRoomID, tombstoneID := "", ""
	if !nv.HashRoomIDs {
		// The new room's ID is known before its create event: send the
		// tombstone first so that predecessor can name it, as Synapse does.
		newRoomID = "!" + rand.Text() + ":" + string(s.server)
		t, err := ob.add("m.room.tombstone", req.Sender, ptr(""), tombstoneContent(newRoomID), "")
		if err != nil {
			return "", err
		}
		tombstoneID = t.EventID
	} else {
		// The new room's ID is the hash of its create event, which cannot
		// name the tombstone (v12 may omit predecessor.event_id): check the
		// tombstone would be allowed before building anything.
		probe := &builder{s: s, v: ov, roomID: req.RoomID, prev: ob.prev, depth: ob.depth, state: maps.Clone(ob.state)}
		if _, err := probe.add("m.room.tombstone", req.Sender, ptr(""), tombstoneContent("!probe"), ""); err != nil {
			return "", err
		}
	}

	nb := &builder{s: s, v: nv, roomID: newRoomID, state: auth.StateMap{}}
	if err := s.buildReplacement(ctx, nb, old, req, tombstoneID); err != nil {
		return "", err
	}
	if tombstoneID == "" {
		if _, err := ob.add("m.room.tombstone", req.Sender, ptr(""), tombstoneContent(nb.roomID), ""); err != nil {
			return "", err
		}
	}
	if oldAlias, _, ok := s.splitCanonicalAlias(old.content("m.room.canonical_alias")); ok {
		if _, err := ob.add("m.room.canonical_alias", req.Sender, ptr(""), oldAlias, ""); err != nil {
			s.log.Warn("upgrade: cannot update the old room's canonical alias", "room", req.RoomID, "err", err)
		}
	}
	if restricted, ok := restrictedPowerLevels(old.get("m.room.create"), old.get("m.room.power_levels")); ok {
		if _, err := ob.add("m.room.power_levels", req.Sender, ptr(""), restricted, ""); err != nil {
			s.log.Warn("upgrade: cannot restrict the old room's power levels", "room", req.RoomID, "err", err)
		}
	}

	s.heads.forget(req.RoomID) // written here without Send: reload it next time
	pos, err := s.db.UpgradeRoom(ctx, store.RoomUpgrade{
		New:       store.NewRoom{RoomID: nb.roomID, Version: nv.ID, Creator: req.Sender},
		NewEvents: nb.built, OldRoomID: req.RoomID, OldEvents: ob.built,
	})
	if err != nil {
		return "", err
	}
	s.announce(pos, nb.built)
	s.announce(pos, ob.built)
	return nb.roomID, nil
}

// buildReplacement builds the new room's events into nb.
func (s *Service) buildReplacement(ctx context.Context, nb *builder, old *upgradeState, req UpgradeRequest, tombstoneID string) error {
	nv, sender, empty := nb.v, req.Sender, ""
	var additional []string
	if nv.PrivilegedCreators {
		additional = req.AdditionalCreators
	}
	create := map[string]any{"room_version": nv.ID}
	pred := map[string]any{"room_id": req.RoomID}
	if tombstoneID != "" {
		pred["event_id"] = tombstoneID
	}
	create["predecessor"] = pred
	if !nv.ImplicitRoomCreator {
		create["creator"] = sender
	}
	if len(additional) > 0 {
		create["additional_creators"] = additional
	}
	var oc struct {
		Type     json.RawMessage `json:"type"`
		Federate *bool           `json:"m.federate"`
	}
	_ = json.Unmarshal(old.content("m.room.create"), &oc)
	roomType := ""
	if len(oc.Type) > 0 && string(oc.Type) != "null" {
		create["type"] = oc.Type
		_ = json.Unmarshal(oc.Type, &roomType)
	}
	if oc.Federate != nil && !*oc.Federate {
		create["m.federate"] = false
	}
	if _, err := nb.add("m.room.create", sender, &empty, mustJSON(create), ""); err != nil {
		return err
	}
	if _, err := nb.add("m.room.member", sender, &sender, mustJSON(map[string]any{"membership": "join"}), ""); err != nil {
		return err
	}
	newCreators := append([]string{sender}, additional...)
	first, final := upgradedPowerLevels(old.get("m.room.create"), old.get("m.room.power_levels"), nv, sender, newCreators)
	if _, err := nb.add("m.room.power_levels", sender, &empty, mustJSON(first), ""); err != nil {
		return err
	}

	// Copies are best effort: content an old version accepted may break a
	// newer version's rules (canonical JSON, say); the room is still worth
	// having without it.
	copyState := func(typ, stateKey string, content json.RawMessage) {
		sk := stateKey
		if _, err := nb.add(typ, sender, &sk, content, ""); err != nil {
			s.log.Warn("upgrade: state not copied", "room", req.RoomID, "type", typ, "state_key", stateKey, "err", err)
		}
	}
	for _, typ := range transferredState {
		if c := old.content(typ); c != nil {
			copyState(typ, "", c)
		}
	}
	if roomType == "m.space" { // as Synapse does: a space keeps its rooms
		for _, k := range old.keys("m.space.child") {
			if c := old.contentAt("m.space.child", k); c != nil && !bytes.Equal(bytes.TrimSpace(c), []byte("{}")) {
				copyState("m.space.child", k, c)
			}
		}
	}
	if _, newAlias, ok := s.splitCanonicalAlias(old.content("m.room.canonical_alias")); ok {
		copyState("m.room.canonical_alias", "", newAlias)
	}
	for _, banned := range old.banned {
		copyState("m.room.member", banned, old.contentAt("m.room.member", banned))
	}
	if !maps.Equal(first["users"].(map[string]int64), final["users"].(map[string]int64)) {
		if _, err := nb.add("m.room.power_levels", sender, &empty, mustJSON(final), ""); err != nil {
			return err
		}
	}
	return nil
}

// upgradeState is the old room's current state an upgrade reads.
type upgradeState struct {
	ids    map[[2]string]string
	events map[string]*event.Event // served content: redacted if redacted
	banned []string                // users banned from the old room, sorted
}

// loadUpgradeState reads the old room's state an upgrade needs: what it
// copies, what the rules need for the sender's events, and the bans.
func (s *Service) loadUpgradeState(ctx context.Context, roomID, sender string) (*upgradeState, error) {
	ids, err := s.db.CurrentStateIDs(ctx, roomID, nil)
	if err != nil {
		return nil, err
	}
	banned, err := s.db.RoomMembers(ctx, roomID, "ban")
	if err != nil {
		return nil, err
	}
	slices.Sort(banned)
	var want []string
	for k, id := range ids {
		typ, sk := k[0], k[1]
		switch {
		case sk == "" && (slices.Contains(transferredState, typ) || typ == "m.room.create" ||
			typ == "m.room.power_levels" || typ == "m.room.canonical_alias" || typ == "m.room.tombstone"),
			typ == "m.space.child",
			typ == "m.room.member" && (sk == sender || slices.Contains(banned, sk)):
			want = append(want, id)
		}
	}
	evs, err := s.Events(ctx, want)
	if err != nil {
		return nil, err
	}
	redacted, err := s.db.RedactionsOf(ctx, want)
	if err != nil {
		return nil, err
	}
	st := &upgradeState{ids: ids, events: make(map[string]*event.Event, len(evs)), banned: banned}
	for id, e := range evs {
		if _, ok := redacted[id]; ok {
			st.events[id] = e.Event.Redact()
		} else {
			st.events[id] = e.Event
		}
	}
	return st, nil
}

func (st *upgradeState) getAt(typ, stateKey string) *event.Event {
	return st.events[st.ids[[2]string{typ, stateKey}]]
}

func (st *upgradeState) get(typ string) *event.Event { return st.getAt(typ, "") }

// contentAt returns the content of a state event, nil if the room has none.
func (st *upgradeState) contentAt(typ, stateKey string) json.RawMessage {
	if e := st.getAt(typ, stateKey); e != nil {
		return e.Content()
	}
	return nil
}

func (st *upgradeState) content(typ string) json.RawMessage { return st.contentAt(typ, "") }

// keys returns the state keys of a type, sorted.
func (st *upgradeState) keys(typ string) []string {
	var out []string
	for k := range st.ids {
		if k[0] == typ {
			out = append(out, k[1])
		}
	}
	slices.Sort(out)
	return out
}

// authState is the state the rules need for the sender's events in the
// old room: create, power levels and the sender's membership.
func (st *upgradeState) authState(sender string) auth.StateMap {
	m := auth.StateMap{}
	for _, k := range [][2]string{{"m.room.create", ""}, {"m.room.power_levels", ""}, {"m.room.member", sender}} {
		if e := st.events[st.ids[k]]; e != nil {
			m[event.StateKeyTuple{Type: k[0], StateKey: k[1]}] = e
		}
	}
	return m
}

// roomBuilder starts a builder of events to append to an existing room.
func (s *Service) roomBuilder(ctx context.Context, v *event.RoomVersion, roomID string, state auth.StateMap) (*builder, error) {
	prev, err := s.db.ForwardExtremities(ctx, roomID)
	if err != nil {
		return nil, err
	}
	depth, err := s.db.MaxDepth(ctx, prev)
	if err != nil {
		return nil, err
	}
	return &builder{s: s, v: v, roomID: roomID, prev: prev, depth: depth, state: state}, nil
}

// existingReplacement returns the room that the sender's tombstone in the
// old room points to, if it exists here with version nv.
func (s *Service) existingReplacement(ctx context.Context, old *upgradeState, sender string, nv *event.RoomVersion) string {
	t := old.get("m.room.tombstone")
	if t == nil || t.Sender() != sender {
		return ""
	}
	var c struct {
		ReplacementRoom string `json:"replacement_room"`
	}
	if json.Unmarshal(t.Content(), &c) != nil || c.ReplacementRoom == "" {
		return ""
	}
	if v, err := s.Version(ctx, c.ReplacementRoom); err != nil || v != nv {
		return ""
	}
	return c.ReplacementRoom
}

func tombstoneContent(replacement string) json.RawMessage {
	return mustJSON(map[string]string{"body": "This room has been replaced", "replacement_room": replacement})
}

func ptr[T any](v T) *T { return &v }

// splitCanonicalAlias splits the old room's m.room.canonical_alias content
// as Synapse does: this server's aliases (alias and alt_aliases) move to
// the new room's event; other servers' stay. ok is false when nothing
// moves.
func (s *Service) splitCanonicalAlias(content json.RawMessage) (oldContent, newContent json.RawMessage, ok bool) {
	if content == nil {
		return nil, nil, false
	}
	var c map[string]any
	if json.Unmarshal(content, &c) != nil {
		return nil, nil, false
	}
	local := func(v any) bool {
		str, _ := v.(string)
		a, err := matrix.ParseRoomAlias(str)
		return err == nil && a.Server() == s.server
	}
	moved := map[string]any{}
	if local(c["alias"]) {
		moved["alias"] = c["alias"]
		delete(c, "alias")
	}
	if alts, isList := c["alt_aliases"].([]any); isList {
		var keep, move []any
		for _, a := range alts {
			if local(a) {
				move = append(move, a)
			} else {
				keep = append(keep, a)
			}
		}
		if len(move) > 0 {
			moved["alt_aliases"] = move
			if keep == nil {
				keep = []any{}
			}
			c["alt_aliases"] = keep
		}
	}
	if len(moved) == 0 {
		return nil, nil, false
	}
	return mustJSON(c), mustJSON(moved), true
}

// maxLevel bounds levels written to a new room: canonical JSON's integer
// range, which v6+ enforce (older versions could hold bigger numbers).
const maxLevel = 1<<53 - 1

func clampLevel(l int64) int64 { return max(-maxLevel, min(maxLevel, l)) }

// upgradedPowerLevels computes the new room's power levels (see
// UpgradeRoom): first is sent before the copied state, final after it
// (they differ only in the sender's level).
func upgradedPowerLevels(oldCreate, oldPL *event.Event, nv *event.RoomVersion, sender string, newCreators []string) (first, final map[string]any) {
	pl, _ := auth.ParsePowerLevels(oldCreate, oldPL)
	top := int64(100)
	for _, l := range []int64{pl.Ban, pl.Kick, pl.Redact, pl.Invite, pl.StateDefault, pl.EventsDefault, pl.UsersDefault} {
		top = max(top, l)
	}
	for _, m := range []map[string]int64{pl.Users, pl.Events, pl.Notifications} {
		for _, l := range m {
			top = max(top, l)
		}
	}
	top = clampLevel(top)
	clampMap := func(m map[string]int64) map[string]int64 {
		out := make(map[string]int64, len(m))
		for k, l := range m {
			out[k] = clampLevel(l)
		}
		return out
	}
	users, events := clampMap(pl.Users), clampMap(pl.Events)
	// The old room's creators keep their power: a level where the old
	// room listed none (v12 creators, or the creator of a room without
	// power levels).
	for _, c := range creatorsOf(oldCreate) {
		if l := pl.UserLevel(c); l == auth.Infinite {
			users[c] = top
		} else {
			users[c] = clampLevel(l)
		}
	}
	stateDefault := clampLevel(pl.StateDefault)
	if nv.PrivilegedCreators {
		for _, c := range newCreators {
			delete(users, c)
		}
		// As createRoom must (spec, POST /createRoom step 3): only
		// creators should be able to upgrade a v12 room by default.
		if l, ok := events["m.room.tombstone"]; !ok || l <= stateDefault {
			events["m.room.tombstone"] = max(150, stateDefault+1)
		}
	}
	final = map[string]any{
		"users": users, "users_default": clampLevel(pl.UsersDefault), "events": events,
		"events_default": clampLevel(pl.EventsDefault), "state_default": stateDefault,
		"ban": clampLevel(pl.Ban), "kick": clampLevel(pl.Kick), "redact": clampLevel(pl.Redact), "invite": clampLevel(pl.Invite),
	}
	if len(pl.Notifications) > 0 {
		final["notifications"] = clampMap(pl.Notifications)
	}
	first = maps.Clone(final)
	first["users"] = maps.Clone(users)
	if !nv.PrivilegedCreators {
		// Synapse's clone_existing_room: the sender needs the level of
		// every state event it copies, and of bans.
		needed := max(stateDefault, clampLevel(pl.Ban))
		for _, l := range events {
			needed = max(needed, l)
		}
		level, ok := users[sender]
		if !ok {
			level = clampLevel(pl.UsersDefault)
		}
		if level < needed {
			first["users"].(map[string]int64)[sender] = needed
		}
	}
	return first, final
}

// creatorsOf returns a create event's creators: content.creator before
// v11, the sender from v11, and additional_creators in v12.
func creatorsOf(create *event.Event) []string {
	if create == nil {
		return nil
	}
	v := create.Version()
	var c struct {
		Creator    string `json:"creator"`
		Additional []any  `json:"additional_creators"`
	}
	_ = json.Unmarshal(create.Content(), &c)
	var out []string
	if v.ImplicitRoomCreator {
		out = append(out, create.Sender())
	} else if c.Creator != "" {
		out = append(out, c.Creator)
	}
	if v.PrivilegedCreators {
		for _, a := range c.Additional {
			if u, ok := a.(string); ok && !slices.Contains(out, u) {
				out = append(out, u)
			}
		}
	}
	return out
}

// restrictedPowerLevels returns the old room's power levels with
// events_default and invite raised to max(50, users_default+1), as
// Synapse's _update_upgraded_room_pls does, so that ordinary members stop
// talking and inviting in the old room. ok is false when nothing changes
// or the room has no power levels event to change.
func restrictedPowerLevels(create, plEvent *event.Event) (json.RawMessage, bool) {
	if plEvent == nil {
		return nil, false
	}
	pl, _ := auth.ParsePowerLevels(create, plEvent)
	var content map[string]json.RawMessage
	if json.Unmarshal(plEvent.Content(), &content) != nil {
		return nil, false
	}
	restricted := max(pl.UsersDefault+1, 50)
	changed := false
	for key, current := range map[string]int64{"events_default": pl.EventsDefault, "invite": pl.Invite} {
		if current < restricted {
			content[key] = mustJSON(restricted)
			changed = true
		}
	}
	return mustJSON(content), changed
}
