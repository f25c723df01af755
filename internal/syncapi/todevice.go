package syncapi

import (
	"context"
	"encoding/json"
)

// to_device (spec: "Send-to-Device messaging", "Extensions to /sync"):
// the device's waiting messages, oldest first. A message is deleted only
// when a later /sync's since token shows the client has it, so a lost
// response or a restart loses nothing.

func init() { globalSections = append(globalSections, (*API).toDeviceSection) }

// maxToDevicePerSync is the spec's recommended cap per response. A longer
// backlog is delivered over several responses: next_batch then records in
// its ToDevice part how far the device got.
const maxToDevicePerSync = 100

type toDeviceEvent struct {
	Sender  string          `json:"sender"`
	Type    string          `json:"type"`
	Content json.RawMessage `json:"content"`
}

func (a *API) toDeviceSection(ctx context.Context, req *request, resp *response) (bool, error) {
	acked := req.since
	if t := req.sinceTok.ToDevice; t != 0 && t < acked {
		acked = t
	}
	if acked > 0 {
		if err := a.db.AckToDevice(ctx, req.userID, req.deviceID, acked); err != nil {
			return false, err
		}
	}
	if !a.db.ToDeviceSentSince(req.userID, acked) {
		return false, nil // nothing new since the last ack (store/changes.go)
	}
	msgs, more, err := a.db.ToDeviceMessages(ctx, req.userID, req.deviceID, acked, req.upto, maxToDevicePerSync)
	if err != nil {
		return false, err
	}
	for _, m := range msgs {
		resp.ToDevice.Events = append(resp.ToDevice.Events, toDeviceEvent{Sender: m.Sender, Type: m.Type, Content: m.Content})
	}
	if more {
		req.next.ToDevice = msgs[len(msgs)-1].Pos
	}
	return len(msgs) > 0, nil
}
