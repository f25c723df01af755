package rooms

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"

	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/room/auth"
	"chappe.eu/chappe/internal/room/event"
	"chappe.eu/chappe/internal/store"
)

// CreateRequest is the body of POST /createRoom.
type CreateRequest struct {
	Visibility                string            `json:"visibility"`
	RoomAliasName             string            `json:"room_alias_name"`
	Name                      *string           `json:"name"`
	Topic                     *string           `json:"topic"`
	Invite                    []string          `json:"invite"`
	RoomVersion               string            `json:"room_version"`
	CreationContent           json.RawMessage   `json:"creation_content"`
	InitialState              []InitialState    `json:"initial_state"`
	Preset                    string            `json:"preset"`
	IsDirect                  bool              `json:"is_direct"`
	PowerLevelContentOverride json.RawMessage   `json:"power_level_content_override"`
	Invite3PID                []json.RawMessage `json:"invite_3pid"`
}

// InitialState is one entry of createRoom's initial_state.
type InitialState struct {
	Type     string          `json:"type"`
	StateKey string          `json:"state_key"`
	Content  json.RawMessage `json:"content"`
}

// Options are the operator's policies for new rooms.
type Options struct {
	// EncryptPrivate adds m.room.encryption (Megolm) to private rooms and
	// direct chats at creation: encryption by default.
	EncryptPrivate bool
}

// maxInvitesAtCreation caps createRoom's invite list.
const maxInvitesAtCreation = 100

// CreateRoom creates a room with the events createRoom implies, in the
// spec's order, stored in one transaction.
func (s *Service) CreateRoom(ctx context.Context, sender string, req CreateRequest, opts Options) (roomID string, err error) {
	if req.RoomVersion == "" {
		req.RoomVersion = event.DefaultRoomVersion
	}
	v, ok := event.Version(req.RoomVersion)
	if !ok {
		return "", matrix.Errorf(http.StatusBadRequest, matrix.ErrUnsupportedRoomVer, "Unsupported room version %q", req.RoomVersion)
	}
	switch req.Visibility {
	case "", "private", "public":
	default:
		return "", matrix.InvalidParam("visibility must be public or private")
	}
	if req.Preset == "" {
		// Spec: "If unspecified, the server should use the visibility to
		// determine which preset to use."
		req.Preset = "private_chat"
		if req.Visibility == "public" {
			req.Preset = "public_chat"
		}
	}
	var joinRule, guestAccess string
	switch req.Preset {
	case "private_chat", "trusted_private_chat":
		joinRule, guestAccess = "invite", "can_join"
	case "public_chat":
		joinRule, guestAccess = "public", "forbidden"
	default:
		return "", matrix.InvalidParam("Unknown preset %q", req.Preset)
	}
	if len(req.Invite) > maxInvitesAtCreation {
		return "", matrix.InvalidParam("At most %d invites", maxInvitesAtCreation)
	}
	if len(req.Invite3PID) > 0 {
		return "", matrix.Errorf(http.StatusBadRequest, matrix.ErrUnrecognized, "Third-party invites need an identity server, which this server does not use")
	}
	for _, u := range req.Invite {
		if _, err := matrix.ParseUserID(u); err != nil {
			return "", matrix.InvalidParam("Invalid user ID to invite: %q", u)
		}
	}
	alias := ""
	if req.RoomAliasName != "" {
		a, err := matrix.ParseRoomAlias("#" + req.RoomAliasName + ":" + string(s.server))
		if err != nil {
			return "", matrix.InvalidParam("Invalid room_alias_name")
		}
		alias = string(a)
		if _, err := s.db.AliasRoom(ctx, alias); err == nil {
			return "", matrix.Errorf(http.StatusBadRequest, matrix.ErrRoomInUse, "Room alias already taken")
		}
	}

	b := &builder{s: s, v: v, state: auth.StateMap{}}
	if !v.HashRoomIDs {
		b.roomID = "!" + rand.Text() + ":" + string(s.server)
	}
	trusted := req.Preset == "trusted_private_chat"

	// 1. m.room.create
	create, err := createContent(req.CreationContent, v, sender, trusted, req.Invite)
	if err != nil {
		return "", err
	}
	empty := ""
	if _, err := b.add("m.room.create", sender, &empty, create, ""); err != nil {
		return "", err
	}
	// 2. the creator joins
	if _, err := b.add("m.room.member", sender, &sender, mustJSON(map[string]any{"membership": "join"}), ""); err != nil {
		return "", err
	}
	// 3. power levels
	pl, err := powerLevelsContent(v, sender, trusted, req.Invite, req.PowerLevelContentOverride)
	if err != nil {
		return "", err
	}
	if _, err := b.add("m.room.power_levels", sender, &empty, pl, ""); err != nil {
		return "", err
	}
	// 4. canonical alias
	if alias != "" {
		if _, err := b.add("m.room.canonical_alias", sender, &empty, mustJSON(map[string]string{"alias": alias}), ""); err != nil {
			return "", err
		}
	}
	// 5. the preset's state, with encryption by default for private rooms
	// unless initial_state sets it
	hasInitial := func(typ string) bool {
		for _, st := range req.InitialState {
			if st.Type == typ && st.StateKey == "" {
				return true
			}
		}
		return false
	}
	preset := []struct {
		typ     string
		content any
	}{
		{"m.room.join_rules", map[string]string{"join_rule": joinRule}},
		{"m.room.history_visibility", map[string]string{"history_visibility": "shared"}},
		{"m.room.guest_access", map[string]string{"guest_access": guestAccess}},
	}
	if err := requireEncryption(req, opts); err != nil { // encryption.go
		return "", err
	}
	if opts.EncryptPrivate && (req.Preset != "public_chat" || req.IsDirect) && !hasInitial("m.room.encryption") {
		preset = append(preset, struct {
			typ     string
			content any
		}{"m.room.encryption", map[string]string{"algorithm": "m.megolm.v1.aes-sha2"}})
	}
	for _, p := range preset {
		if hasInitial(p.typ) && p.typ != "m.room.encryption" {
			continue // initial_state takes precedence; skip a redundant event
		}
		if _, err := b.add(p.typ, sender, &empty, mustJSON(p.content), ""); err != nil {
			return "", err
		}
	}
	// 6. initial_state
	for _, st := range req.InitialState {
		if st.Type == "" || st.Type == "m.room.create" || st.Type == "m.room.member" {
			return "", matrix.InvalidParam("initial_state may not hold %q events", st.Type)
		}
		content := st.Content
		if len(content) == 0 {
			content = json.RawMessage("{}")
		}
		if st.Type == "m.room.canonical_alias" && st.StateKey == "" {
			if err := checkInitialAliases(content, alias); err != nil {
				return "", err
			}
		}
		sk := st.StateKey
		if _, err := b.add(st.Type, sender, &sk, content, ""); err != nil {
			return "", err
		}
	}
	// 7. name and topic
	if req.Name != nil {
		if _, err := b.add("m.room.name", sender, &empty, mustJSON(map[string]string{"name": *req.Name}), ""); err != nil {
			return "", err
		}
	}
	if req.Topic != nil {
		topic := map[string]any{"topic": *req.Topic,
			"m.topic": map[string]any{"m.text": []map[string]string{{"mimetype": "text/plain", "body": *req.Topic}}}}
		if _, err := b.add("m.room.topic", sender, &empty, mustJSON(topic), ""); err != nil {
			return "", err
		}
	}
	// 8. invites
	for _, u := range req.Invite {
		c := map[string]any{"membership": "invite"}
		if req.IsDirect {
			c["is_direct"] = true
		}
		invitee := u
		ne, err := b.add("m.room.member", sender, &invitee, mustJSON(c), "")
		if err != nil {
			return "", err
		}
		// An invite notifies the invitee (.m.rule.invite_for_me), here as
		// when it is sent later.
		if ne.Push, err = s.pushOutcome(ctx, b, ne); err != nil {
			return "", err
		}
	}

	pos, err := s.db.CreateRoom(ctx, store.NewRoom{RoomID: b.roomID, Version: v.ID, Creator: sender, Alias: alias,
		Public: req.Visibility == "public"}, b.built)
	if err == store.ErrConflict {
		return "", matrix.Errorf(http.StatusBadRequest, matrix.ErrRoomInUse, "Room alias already taken")
	}
	if err != nil {
		return "", err
	}
	s.announce(pos, b.built)
	return b.roomID, nil
}

// createContent builds m.room.create's content from creation_content.
func createContent(raw json.RawMessage, v *event.RoomVersion, sender string, trusted bool, invite []string) (json.RawMessage, error) {
	c := map[string]any{}
	if len(raw) > 0 && string(raw) != "null" {
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, matrix.BadJSON("creation_content must be an object")
		}
	}
	c["room_version"] = v.ID
	if !v.ImplicitRoomCreator {
		c["creator"] = sender
	} else {
		delete(c, "creator")
	}
	if v.PrivilegedCreators && trusted && len(invite) > 0 {
		// Spec: for trusted_private_chat the invitees SHOULD be appended
		// to additional_creators.
		extra, _ := c["additional_creators"].([]any)
		for _, u := range invite {
			extra = append(extra, u)
		}
		c["additional_creators"] = extra
	}
	return mustJSON(c), nil
}

// powerLevelsContent is Synapse's default power levels, adjusted for the
// room version and preset, with power_level_content_override on top.
func powerLevelsContent(v *event.RoomVersion, sender string, trusted bool, invite []string, override json.RawMessage) (json.RawMessage, error) {
	tombstone := 100
	if v.PrivilegedCreators {
		tombstone = 150 // spec: must be explicitly higher than state_default
	}
	users := map[string]any{}
	if !v.PrivilegedCreators { // v12 creators have infinite power and are not listed
		users[sender] = 100
	}
	if trusted && !v.PrivilegedCreators {
		for _, u := range invite {
			users[u] = 100
		}
	}
	pl := map[string]any{
		"users": users, "users_default": 0,
		"events": map[string]any{
			"m.room.name": 50, "m.room.power_levels": 100, "m.room.history_visibility": 100,
			"m.room.canonical_alias": 50, "m.room.avatar": 50, "m.room.tombstone": tombstone,
			"m.room.server_acl": 100, "m.room.encryption": 100,
		},
		"events_default": 0, "state_default": 50, "ban": 50, "kick": 50, "redact": 50, "invite": 50,
		"notifications": map[string]any{"room": 50},
	}
	if len(override) > 0 && string(override) != "null" {
		var o map[string]any
		if err := json.Unmarshal(override, &o); err != nil {
			return nil, matrix.BadJSON("power_level_content_override must be an object")
		}
		for k, val := range o {
			pl[k] = val
		}
	}
	return mustJSON(pl), nil
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// checkInitialAliases checks an m.room.canonical_alias of createRoom's
// initial_state: a new room has no alias but the one room_alias_name
// creates, so the event may name only that one (as PUT /state would
// refuse any other with M_BAD_ALIAS).
func checkInitialAliases(content json.RawMessage, created string) error {
	var c struct {
		Alias      *string  `json:"alias"`
		AltAliases []string `json:"alt_aliases"`
	}
	if err := json.Unmarshal(content, &c); err != nil {
		return matrix.BadJSON("m.room.canonical_alias: %v", err)
	}
	names := c.AltAliases
	if c.Alias != nil {
		names = append(names, *c.Alias)
	}
	for _, a := range names {
		if _, err := matrix.ParseRoomAlias(a); err != nil {
			return matrix.InvalidParam("Invalid room alias %q", a)
		}
		if a != created {
			return matrix.Errorf(http.StatusBadRequest, "M_BAD_ALIAS", "Room alias %s does not point to this room", a)
		}
	}
	return nil
}
