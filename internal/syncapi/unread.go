package syncapi

import "context"

// unread_notifications, and unread_thread_notifications when the timeline
// filter asks for them, of each joined room in the response ("Receiving
// notifications"). Counts are read only for the rooms the response holds:
// a global section runs after build has filled rooms.join, so a user in
// many rooms pays for the rooms that changed, not for all of them. Counts
// never bring a room into a response on their own: what changes them (a
// new event, the user's own receipt or event) is in the room's timeline or
// ephemeral events, so the room is there anyway.

func init() { globalSections = append(globalSections, (*API).unreadSection) }

func (a *API) unreadSection(ctx context.Context, req *request, resp *response) (bool, error) {
	threaded := req.filter.Room.Timeline.UnreadThreadNotifications
	for roomID, jr := range resp.Rooms.Join {
		counts, err := a.db.UnreadCounts(ctx, req.userID, roomID, req.upto)
		if err != nil {
			return false, err
		}
		main := map[string]int{"notification_count": 0, "highlight_count": 0}
		var threads map[string]map[string]int
		for _, c := range counts {
			// Without per-thread counts, the room's counts are every
			// thread's; with them, the main timeline's alone.
			if !threaded || c.ThreadID == "main" {
				main["notification_count"] += c.Notifications
				main["highlight_count"] += c.Highlights
				continue
			}
			if threads == nil {
				threads = map[string]map[string]int{}
			}
			threads[c.ThreadID] = map[string]int{"notification_count": c.Notifications, "highlight_count": c.Highlights}
		}
		jr.UnreadNotifications = main
		jr.UnreadThreadNotifications = threads // omitted when no thread has any
	}
	return false, nil
}
