package auth

import (
	"encoding/json"

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

type createContent struct {
	Creator            json.RawMessage `json:"creator"`
	RoomVersion        json.RawMessage `json:"room_version"`
	Federate           json.RawMessage `json:"m.federate"`
	AdditionalCreators json.RawMessage `json:"additional_creators"`
}

// parseCreate reads the create event leniently: it was accepted already, and
// rules that validate it (rule 1) do so on the raw content.
func parseCreate(create *event.Event) createInfo {
	v := create.Version()
	c := createInfo{privileged: v.PrivilegedCreators, federate: true,
		senderHost: domain(create.Sender()), version: v, createEvent: create}
	var cc createContent
	_ = json.Unmarshal(create.Content(), &cc)
	if string(cc.Federate) == "false" {
		c.federate = false
	}
	if v.ImplicitRoomCreator {
		c.creators = []string{create.Sender()}
	} else {
		var creator string
		if json.Unmarshal(cc.Creator, &creator) == nil && creator != "" {
			c.creators = []string{creator}
		}
	}
	if v.PrivilegedCreators {
		var extra []string
		if json.Unmarshal(cc.AdditionalCreators, &extra) == nil {
			c.creators = append(c.creators, extra...)
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
