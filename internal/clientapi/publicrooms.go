package clientapi

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"chappe.eu/chappe/internal/httpapi"
	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/store"
)

// The published room directory: GET and POST /publicRooms (spec:
// "Published room directory").
//
// Rooms are ordered by joined members, most first, then by room ID, with
// the members counted as of the stream position of the first page: every
// token carries that position, so paging through the list neither skips
// nor repeats a room while members come and go. Like Synapse, the list
// leaves out published rooms that nobody could join or read (join rule
// neither public nor knock, history not world_readable), as the spec
// allows.

// maxPublicRooms caps a page. The spec sets no default limit and Synapse
// returns every room without one; a page of this many with next_batch
// serves the same clients without an unbounded response.
const maxPublicRooms = 500

// directoryStateTypes are the state events a directory entry is made of.
var directoryStateTypes = []string{
	"m.room.create", "m.room.name", "m.room.topic", "m.room.avatar", "m.room.canonical_alias",
	"m.room.join_rules", "m.room.history_visibility", "m.room.guest_access",
}

// publicRoomsRequest is what GET and POST /publicRooms ask for.
type publicRoomsRequest struct {
	limit       int64
	since       string
	server      string
	searchTerm  string
	roomTypes   []*string // nil: every type; a nil entry: rooms without a type
	allNetworks bool
	network     string // third_party_instance_id
}

// publicRoom is one entry of the chunk (PublishedRoomsChunk).
type publicRoom struct {
	RoomID           string `json:"room_id"`
	Name             string `json:"name,omitempty"`
	Topic            string `json:"topic,omitempty"`
	CanonicalAlias   string `json:"canonical_alias,omitempty"`
	NumJoinedMembers int64  `json:"num_joined_members"`
	WorldReadable    bool   `json:"world_readable"`
	GuestCanJoin     bool   `json:"guest_can_join"`
	JoinRule         string `json:"join_rule,omitempty"`
	AvatarURL        string `json:"avatar_url,omitempty"`
	RoomType         string `json:"room_type,omitempty"`
}

// getPublicRooms is open to anonymous clients, as the spec says (its
// operation has no security requirement). Like Synapse, it also reads
// include_all_networks and third_party_instance_id from the query.
func (a *API) getPublicRooms(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	req := publicRoomsRequest{since: q.Get("since"), server: q.Get("server"),
		allNetworks: q.Get("include_all_networks") == "true", network: q.Get("third_party_instance_id")}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.ParseInt(l, 10, 64)
		if err != nil || n < 0 {
			return matrix.InvalidParam("limit must be a non-negative integer")
		}
		req.limit = n
	}
	return a.publicRooms(w, r, req)
}

func (a *API) postPublicRooms(w http.ResponseWriter, r *http.Request, s *Session) error {
	var body struct {
		Limit  *int64  `json:"limit"`
		Since  *string `json:"since"`
		Filter *struct {
			GenericSearchTerm *string    `json:"generic_search_term"`
			RoomTypes         *[]*string `json:"room_types"`
		} `json:"filter"`
		IncludeAllNetworks   bool    `json:"include_all_networks"`
		ThirdPartyInstanceID *string `json:"third_party_instance_id"`
	}
	if err := a.readJSON(r, &body); err != nil {
		return err
	}
	req := publicRoomsRequest{server: r.URL.Query().Get("server"), allNetworks: body.IncludeAllNetworks}
	if body.Limit != nil {
		if *body.Limit < 0 {
			return matrix.InvalidParam("limit must be a non-negative integer")
		}
		req.limit = *body.Limit
	}
	if body.Since != nil {
		req.since = *body.Since
	}
	if body.ThirdPartyInstanceID != nil {
		req.network = *body.ThirdPartyInstanceID
	}
	if f := body.Filter; f != nil {
		if f.GenericSearchTerm != nil {
			req.searchTerm = *f.GenericSearchTerm
		}
		if f.RoomTypes != nil && len(*f.RoomTypes) > 0 {
			req.roomTypes = *f.RoomTypes
		}
	}
	return a.publicRooms(w, r, req)
}

func (a *API) publicRooms(w http.ResponseWriter, r *http.Request, req publicRoomsRequest) error {
	ctx := r.Context()
	if req.server != "" && req.server != a.cfg.ServerName {
		if _, err := matrix.ParseServerName(req.server); err != nil {
			return matrix.InvalidParam("Invalid server name")
		}
		// As Synapse answers for a server it may not federate with.
		return matrix.Forbidden("This server cannot fetch other servers' room directories yet")
	}
	if req.network != "" && req.allNetworks {
		return matrix.InvalidParam("Can't use include_all_networks with an explicit network")
	}
	if req.limit == 0 || req.limit > maxPublicRooms {
		req.limit = maxPublicRooms
	}
	var since *directoryToken
	var pos int64
	if req.since != "" {
		t, err := parseDirectoryToken(req.since)
		if err != nil {
			return err
		}
		since, pos = &t, t.pos
	} else {
		var err error
		if pos, err = a.db.StreamPos(ctx); err != nil {
			return err
		}
	}
	resp := map[string]any{"chunk": []publicRoom{}, "total_room_count_estimate": 0}
	if req.network != "" { // no bridges here: no room belongs to a third-party network
		return httpapi.WriteJSON(w, http.StatusOK, resp)
	}
	listed, err := a.directoryEntries(r, pos)
	if err != nil {
		return err
	}
	resp["total_room_count_estimate"] = len(listed)
	matching := listed[:0]
	for _, e := range listed {
		if req.matches(e) {
			matching = append(matching, e)
		}
	}
	sort.Slice(matching, func(i, j int) bool { return roomBefore(matching[i], matching[j]) })

	start, end := 0, len(matching)
	switch {
	case since == nil:
		end = min(len(matching), int(req.limit))
	case !since.backward: // the rooms after the token's room
		start = sort.Search(len(matching), func(i int) bool { return since.before(matching[i]) })
		end = min(len(matching), start+int(req.limit))
	default: // the rooms before it
		end = sort.Search(len(matching), func(i int) bool { return !since.after(matching[i]) })
		start = max(0, end-int(req.limit))
	}
	page := matching[start:end]
	resp["chunk"] = page
	if len(page) > 0 {
		if start > 0 {
			resp["prev_batch"] = directoryToken{pos: pos, backward: true, joined: page[0].NumJoinedMembers, roomID: page[0].RoomID}.String()
		}
		if end < len(matching) {
			last := page[len(page)-1]
			resp["next_batch"] = directoryToken{pos: pos, joined: last.NumJoinedMembers, roomID: last.RoomID}.String()
		}
	}
	return httpapi.WriteJSON(w, http.StatusOK, resp)
}

// roomBefore is the directory's order: most joined members first, then
// room ID.
func roomBefore(a, b publicRoom) bool {
	if a.NumJoinedMembers != b.NumJoinedMembers {
		return a.NumJoinedMembers > b.NumJoinedMembers
	}
	return a.RoomID < b.RoomID
}

// matches applies the request's filter.
func (req publicRoomsRequest) matches(e publicRoom) bool {
	if req.roomTypes != nil && !slices.ContainsFunc(req.roomTypes, func(t *string) bool {
		return (t == nil && e.RoomType == "") || (t != nil && *t == e.RoomType)
	}) {
		return false
	}
	term := strings.ToLower(strings.TrimSpace(req.searchTerm))
	if term == "" {
		return true
	}
	for _, s := range []string{e.Name, e.Topic, e.CanonicalAlias} {
		if strings.Contains(strings.ToLower(s), term) {
			return true
		}
	}
	return false
}

// directoryEntries returns the published rooms the directory lists, with
// their members as of pos, unsorted.
func (a *API) directoryEntries(r *http.Request, pos int64) ([]publicRoom, error) {
	ctx := r.Context()
	rooms, err := a.db.DirectoryRooms(ctx, pos, directoryStateTypes)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, room := range rooms {
		for _, id := range room.State {
			ids = append(ids, id)
		}
	}
	evs, err := a.rooms.Events(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := make([]publicRoom, 0, len(rooms))
	for _, room := range rooms {
		content := func(typ string) json.RawMessage {
			e := evs[room.State[typ]]
			if e == nil {
				return nil
			}
			if room.Redacted[typ] {
				return e.Redact().Content()
			}
			return e.Content()
		}
		e := directoryEntry(room, content)
		// Synapse lists only rooms one can join or knock on, or read.
		switch {
		case e.WorldReadable, e.JoinRule == "public", e.JoinRule == "knock", e.JoinRule == "knock_restricted":
			out = append(out, e)
		}
	}
	return out, nil
}

// directoryEntry makes a room's chunk entry from its state.
func directoryEntry(room store.DirectoryRoom, content func(typ string) json.RawMessage) publicRoom {
	str := func(typ, key string) string {
		var c map[string]json.RawMessage
		if json.Unmarshal(content(typ), &c) != nil {
			return ""
		}
		var s string
		_ = json.Unmarshal(c[key], &s)
		return s
	}
	e := publicRoom{
		RoomID: room.RoomID, NumJoinedMembers: room.Joined,
		Name: str("m.room.name", "name"), Topic: plainTopic(content("m.room.topic")),
		CanonicalAlias: str("m.room.canonical_alias", "alias"), AvatarURL: str("m.room.avatar", "url"),
		JoinRule: str("m.room.join_rules", "join_rule"), RoomType: str("m.room.create", "type"),
		WorldReadable: str("m.room.history_visibility", "history_visibility") == "world_readable",
		GuestCanJoin:  str("m.room.guest_access", "guest_access") == "can_join",
	}
	if _, err := matrix.ParseRoomAlias(e.CanonicalAlias); err != nil {
		e.CanonicalAlias = ""
	}
	if !strings.HasPrefix(e.AvatarURL, "mxc://") {
		e.AvatarURL = ""
	}
	return e
}

// plainTopic is the plain-text topic of m.room.topic content, as
// Synapse's get_plain_text_topic_from_event_content reads it: the
// text/plain representation in m.topic (a representation without a
// mimetype is text/plain), else the topic key.
func plainTopic(content json.RawMessage) string {
	var c struct {
		Topic  json.RawMessage `json:"topic"`
		MTopic json.RawMessage `json:"m.topic"`
	}
	if json.Unmarshal(content, &c) != nil {
		return ""
	}
	var topic string
	_ = json.Unmarshal(c.Topic, &topic)
	var m struct {
		Text []map[string]json.RawMessage `json:"m.text"`
	}
	if json.Unmarshal(c.MTopic, &m) != nil {
		return topic
	}
	for _, rep := range m.Text {
		mime, hasMime := rep["mimetype"]
		var mt string
		_ = json.Unmarshal(mime, &mt)
		if hasMime && mt != "text/plain" {
			continue
		}
		var body string
		if json.Unmarshal(rep["body"], &body) != nil {
			return topic
		}
		return body
	}
	return topic
}

// directoryToken is a /publicRooms pagination token: the stream position
// the members are counted at, and the room the page starts after (or,
// backward, ends before) in the directory's order.
type directoryToken struct {
	pos      int64
	backward bool
	joined   int64
	roomID   string
}

func (t directoryToken) String() string {
	dir := 'f'
	if t.backward {
		dir = 'b'
	}
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "%d|%c|%d|%s", t.pos, dir, t.joined, t.roomID))
}

func parseDirectoryToken(s string) (directoryToken, error) {
	bad := matrix.InvalidParam("Invalid since token")
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return directoryToken{}, bad
	}
	parts := strings.SplitN(string(raw), "|", 4)
	if len(parts) != 4 || (parts[1] != "f" && parts[1] != "b") || parts[3] == "" {
		return directoryToken{}, bad
	}
	t := directoryToken{backward: parts[1] == "b", roomID: parts[3]}
	if t.pos, err = strconv.ParseInt(parts[0], 10, 64); err != nil || t.pos < 0 {
		return directoryToken{}, bad
	}
	if t.joined, err = strconv.ParseInt(parts[2], 10, 64); err != nil || t.joined < 0 {
		return directoryToken{}, bad
	}
	return t, nil
}

// key is the token's room as an entry, for comparisons.
func (t directoryToken) key() publicRoom {
	return publicRoom{RoomID: t.roomID, NumJoinedMembers: t.joined}
}

// before reports whether the token's room comes before e.
func (t directoryToken) before(e publicRoom) bool { return roomBefore(t.key(), e) }

// after reports whether the token's room comes after e.
func (t directoryToken) after(e publicRoom) bool { return roomBefore(e, t.key()) }
