// Package filter implements the client-server API's filters ("Filtering"):
// which events /sync, /messages and /context return.
package filter

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Filter is a whole filter as uploaded with POST /user/{userId}/filter.
type Filter struct {
	EventFields []string    `json:"event_fields,omitempty"`
	EventFormat string      `json:"event_format,omitempty"`
	Presence    EventFilter `json:"presence"`
	AccountData EventFilter `json:"account_data"`
	Room        RoomFilter  `json:"room"`
}

// EventFilter selects events by type and sender.
type EventFilter struct {
	Limit      *int     `json:"limit,omitempty"`
	Types      []string `json:"types,omitempty"`
	NotTypes   []string `json:"not_types,omitempty"`
	Senders    []string `json:"senders,omitempty"`
	NotSenders []string `json:"not_senders,omitempty"`
}

// RoomFilter selects rooms and what /sync says of them.
type RoomFilter struct {
	Rooms        []string        `json:"rooms,omitempty"`
	NotRooms     []string        `json:"not_rooms,omitempty"`
	IncludeLeave bool            `json:"include_leave,omitempty"`
	Timeline     RoomEventFilter `json:"timeline"`
	State        RoomEventFilter `json:"state"`
	Ephemeral    RoomEventFilter `json:"ephemeral"`
	AccountData  RoomEventFilter `json:"account_data"`
}

// RoomEventFilter selects room events.
type RoomEventFilter struct {
	EventFilter
	Rooms                     []string `json:"rooms,omitempty"`
	NotRooms                  []string `json:"not_rooms,omitempty"`
	ContainsURL               *bool    `json:"contains_url,omitempty"`
	LazyLoadMembers           bool     `json:"lazy_load_members,omitempty"`
	IncludeRedundantMembers   bool     `json:"include_redundant_members,omitempty"`
	UnreadThreadNotifications bool     `json:"unread_thread_notifications,omitempty"`
}

// Caps that keep a hostile filter cheap to apply.
const (
	MaxListLen = 1000
	MaxLimit   = 1000
)

// Validate checks sizes and values.
func (f *Filter) Validate() error {
	if f.EventFormat != "" && f.EventFormat != "client" && f.EventFormat != "federation" {
		return errorf("event_format must be client or federation")
	}
	for _, ef := range []*EventFilter{&f.Presence, &f.AccountData, &f.Room.Timeline.EventFilter, &f.Room.State.EventFilter,
		&f.Room.Ephemeral.EventFilter, &f.Room.AccountData.EventFilter} {
		if err := ef.validate(); err != nil {
			return err
		}
	}
	for _, l := range [][]string{f.EventFields, f.Room.Rooms, f.Room.NotRooms, f.Room.Timeline.Rooms, f.Room.Timeline.NotRooms} {
		if len(l) > MaxListLen {
			return errorf("lists hold at most %d entries", MaxListLen)
		}
	}
	return nil
}

func (f *EventFilter) validate() error {
	if f.Limit != nil && *f.Limit < 0 {
		return errorf("limit must not be negative")
	}
	for _, l := range [][]string{f.Types, f.NotTypes, f.Senders, f.NotSenders} {
		if len(l) > MaxListLen {
			return errorf("lists hold at most %d entries", MaxListLen)
		}
	}
	return nil
}

type filterError string

func (e filterError) Error() string           { return string(e) }
func errorf(format string, args ...any) error { return filterError(fmt.Sprintf(format, args...)) }

// LimitOr returns the filter's limit capped at MaxLimit, or def.
func (f *EventFilter) LimitOr(def int) int {
	if f.Limit == nil {
		return def
	}
	return min(*f.Limit, MaxLimit)
}

// matchType matches an event type against a pattern with '*' wildcards.
func matchType(pattern, typ string) bool {
	if !strings.Contains(pattern, "*") {
		return pattern == typ
	}
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(typ, parts[0]) {
		return false
	}
	rest := typ[len(parts[0]):]
	for i, p := range parts[1:] {
		if i == len(parts)-2 {
			return strings.HasSuffix(rest, p)
		}
		j := strings.Index(rest, p)
		if j < 0 {
			return false
		}
		rest = rest[j+len(p):]
	}
	return true
}

func anyType(patterns []string, typ string) bool {
	for _, p := range patterns {
		if matchType(p, typ) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Match reports whether an event of this type and sender passes.
func (f *EventFilter) Match(typ, sender string) bool {
	if anyType(f.NotTypes, typ) || contains(f.NotSenders, sender) {
		return false
	}
	if f.Types != nil && !anyType(f.Types, typ) {
		return false
	}
	if f.Senders != nil && !contains(f.Senders, sender) {
		return false
	}
	return true
}

// MatchRoom reports whether a room passes rooms and not_rooms.
func MatchRoom(rooms, notRooms []string, roomID string) bool {
	if contains(notRooms, roomID) {
		return false
	}
	return rooms == nil || contains(rooms, roomID)
}

// MatchEvent applies a room event filter to an event.
func (f *RoomEventFilter) MatchEvent(roomID, typ, sender string, content json.RawMessage) bool {
	if !MatchRoom(f.Rooms, f.NotRooms, roomID) || !f.Match(typ, sender) {
		return false
	}
	if f.ContainsURL != nil {
		var c struct {
			URL *string `json:"url"`
		}
		_ = json.Unmarshal(content, &c)
		if (c.URL != nil) != *f.ContainsURL {
			return false
		}
	}
	return true
}

// Parse parses a filter's JSON and validates it.
func Parse(data []byte) (*Filter, error) {
	var f Filter
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, errorf("invalid filter JSON")
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return &f, nil
}

// ParseRoomEventFilter parses the filter parameter of /messages and /context.
func ParseRoomEventFilter(data []byte) (*RoomEventFilter, error) {
	var f RoomEventFilter
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, errorf("invalid filter JSON")
	}
	if err := f.EventFilter.validate(); err != nil {
		return nil, err
	}
	return &f, nil
}
