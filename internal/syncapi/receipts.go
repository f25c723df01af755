package syncapi

import (
	"context"

	"chappe.eu/chappe/internal/store"
)

// m.receipt in each joined room's ephemeral events ("Receipts"): the
// receipts stored in (since, upto], all of them for an initial or
// full-state sync, batched into one event per room. Others' m.read.private
// receipts never leave the store (store.RoomReceipts), and receipts of
// users the viewer ignores are left out.

func init() { roomSections = append(roomSections, (*API).receiptsSection) }

func (a *API) receiptsSection(ctx context.Context, req *request, roomID string, jr *joinedRoom) (bool, error) {
	if !req.filter.Room.Ephemeral.MatchEvent(roomID, "m.receipt", "", nil) {
		return false, nil
	}
	from := req.since
	if req.fullState {
		from = 0
	}
	list, err := a.db.RoomReceipts(ctx, roomID, req.userID, from, req.upto)
	if err != nil || len(list) == 0 {
		return false, err
	}
	content := receiptContent(list, req.ignored)
	if len(content) == 0 {
		return false, nil
	}
	jr.Ephemeral.Events = append(jr.Ephemeral.Events, map[string]any{"type": "m.receipt", "content": content})
	return true, nil
}

// receiptContent is the content of an m.receipt event: event ID → receipt
// type → user ID → {ts, thread_id}. Later receipts of the same user, type
// and thread replace earlier ones: the list is in stream order.
func receiptContent(list []store.Receipt, ignored map[string]bool) map[string]map[string]map[string]any {
	type key struct{ typ, user, thread string }
	latest := map[key]store.Receipt{}
	for _, r := range list {
		if !ignored[r.UserID] {
			latest[key{r.Type, r.UserID, r.ThreadID}] = r
		}
	}
	content := map[string]map[string]map[string]any{}
	for _, r := range latest {
		byType := content[r.EventID]
		if byType == nil {
			byType = map[string]map[string]any{}
			content[r.EventID] = byType
		}
		users := byType[r.Type]
		if users == nil {
			users = map[string]any{}
			byType[r.Type] = users
		}
		data := map[string]any{"ts": r.TS}
		if r.ThreadID != "" {
			data["thread_id"] = r.ThreadID
		}
		users[r.UserID] = data
	}
	return content
}
