package auth

import (
	"chappe.eu/chappe/internal/room/canonicaljson"
	"chappe.eu/chappe/internal/room/event"
)

// createInfo is what the rules read from the m.room.create event.
type createInfo struct {
	creators    []string // creators[0] is the creator; v12 adds additional_creators
	privileged  bool     // v12: creators have infinite power
	federate    bool     // content["m.federate"] is not false
	senderHost  string   // the domain of the create event's sender
	version     *event.RoomVersion
	createEvent *event.Event
}

// parseCreate reads the create event leniently: it was accepted already, and
// rules that validate it (rule 1) do so on the raw content.
func parseCreate(create *event.Event) createInfo {
	v := create.Version()
	c := createInfo{privileged: v.PrivilegedCreators, federate: true,
		senderHost: domain(create.Sender()), version: v, createEvent: create}
	content := create.Content()
	if string(field(content, "m.federate")) == "false" {
		c.federate = false
	}
	if v.ImplicitRoomCreator {
		c.creators = []string{create.Sender()}
	} else if creator, ok := stringValue(field(content, "creator")); ok && creator != "" {
		c.creators = []string{creator}
	}
	if v.PrivilegedCreators {
		for raw := range canonicaljson.Elements(field(content, "additional_creators")) {
			if s, ok := stringValue(raw); ok {
				c.creators = append(c.creators, s)
			}
		}
	}
	return c
}

// defaultLevels are the power levels of a room without m.room.power_levels.
func (c createInfo) defaultLevels() *PowerLevels {
	return &PowerLevels{Ban: defaultBan, Kick: defaultKick, Redact: defaultRedact,
		Invite: defaultInvite, StateDefault: defaultStateDefault,
		EventsDefault: defaultEventsDefault, UsersDefault: defaultUsersDefault,
		creators: c.creators, privileged: c.privileged}
}
