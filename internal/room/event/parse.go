package event

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// PROVISIONAL: a lenient parser so that the auth and stateres packages can be
// written in parallel. The event package's owner replaces it with the strict
// per-version parser (canonical JSON, size limit, reference-hash event IDs).

// Parse parses a PDU of room version v. For versions whose event IDs are
// hashes, the ID is computed from the event.
func Parse(raw []byte, v *RoomVersion) (*Event, error) {
	var f struct {
		EventID        string          `json:"event_id"`
		RoomID         string          `json:"room_id"`
		Sender         string          `json:"sender"`
		Type           string          `json:"type"`
		StateKey       *string         `json:"state_key"`
		Content        json.RawMessage `json:"content"`
		PrevEvents     json.RawMessage `json:"prev_events"`
		AuthEvents     json.RawMessage `json:"auth_events"`
		Depth          int64           `json:"depth"`
		OriginServerTS int64           `json:"origin_server_ts"`
		Redacts        string          `json:"redacts"`
		Unsigned       json.RawMessage `json:"unsigned"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, err
	}
	if f.Type == "" || f.Sender == "" {
		return nil, errors.New("event: missing type or sender")
	}
	e := &Event{version: v, raw: raw, roomID: f.RoomID, sender: f.Sender, typ: f.Type,
		stateKey: f.StateKey, content: f.Content, depth: f.Depth,
		originServerTS: f.OriginServerTS, redacts: f.Redacts, unsigned: f.Unsigned}
	var err error
	if e.prevEvents, err = parseRefs(f.PrevEvents, v); err != nil {
		return nil, fmt.Errorf("event: prev_events: %w", err)
	}
	if e.authEvents, err = parseRefs(f.AuthEvents, v); err != nil {
		return nil, fmt.Errorf("event: auth_events: %w", err)
	}
	if v.RedactsInContent && f.Type == "m.room.redaction" {
		var c struct {
			Redacts string `json:"redacts"`
		}
		_ = json.Unmarshal(f.Content, &c)
		e.redacts = c.Redacts
	}
	if v.EventIDFormat == EventIDServerGenerated {
		e.eventID = f.EventID
	} else {
		sum := sha256.Sum256(raw) // PROVISIONAL: not the reference hash
		e.eventID = "$" + base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return e, nil
}

func parseRefs(raw json.RawMessage, v *RoomVersion) ([]string, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	if v.EventIDFormat == EventIDServerGenerated {
		var pairs [][2]json.RawMessage
		if err := json.Unmarshal(raw, &pairs); err != nil {
			return nil, err
		}
		ids := make([]string, len(pairs))
		for i, p := range pairs {
			if err := json.Unmarshal(p[0], &ids[i]); err != nil {
				return nil, err
			}
		}
		return ids, nil
	}
	var ids []string
	err := json.Unmarshal(raw, &ids)
	return ids, err
}
