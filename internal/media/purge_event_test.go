package media_test

import (
	"net/url"
	"testing"
)

// The admin purge of a redacted event's media: the event must be redacted,
// only admins may call it, and afterwards the event's files are gone
// (downloads 404) while other media stays.
func TestAdminPurgeEventMedia(t *testing.T) {
	forEachEngine(t, nil, func(t *testing.T, e *env) {
		admin := e.makeAdmin("root")
		img := pngBytes(t, 64, 64)
		photo := e.upload(e.alice, img, "image/png", "leak.png")
		keep := e.upload(e.alice, []byte("keep me"), "text/plain", "")
		roomID := e.alice.MustDo("POST", "/_matrix/client/v3/createRoom", map[string]any{"preset": "public_chat"}, 200).String("room_id")
		eventID := e.alice.MustDo("PUT", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/send/m.room.message/p1",
			map[string]any{"msgtype": "m.image", "body": "leak.png", "url": photo, "info": map[string]any{"thumbnail_url": photo}}, 200).String("event_id")
		purge := "/_chappe/admin/v1/rooms/" + url.PathEscape(roomID) + "/events/" + url.PathEscape(eventID) + "/purge_media"

		if r := e.alice.Do("POST", purge, map[string]any{}); r.Status != 403 {
			t.Errorf("purge by a non-admin = %d %s; want 403", r.Status, r.Raw)
		}
		if r := admin.Do("POST", purge, map[string]any{}); r.Status != 400 {
			t.Errorf("purge of an unredacted event = %d %s; want 400", r.Status, r.Raw)
		}
		if r := e.get(e.alice, mediaV1+"/download/"+mediaPath(photo)); r.status != 200 {
			t.Fatalf("the refused purge deleted the media: %d", r.status)
		}
		e.alice.MustDo("PUT", "/_matrix/client/v3/rooms/"+url.PathEscape(roomID)+"/redact/"+url.PathEscape(eventID)+"/r1", map[string]any{}, 200)
		if r := admin.Do("POST", "/_chappe/admin/v1/rooms/"+url.PathEscape("!other:chappe.test")+"/events/"+url.PathEscape(eventID)+"/purge_media", map[string]any{}); r.Status != 404 {
			t.Errorf("purge naming the wrong room = %d %s; want 404", r.Status, r.Raw)
		}
		admin.MustDo("POST", purge, map[string]any{}, 200)
		if r := e.get(e.alice, mediaV1+"/download/"+mediaPath(photo)); r.status != 404 {
			t.Errorf("download after the purge = %d; want 404", r.status)
		}
		if r := e.get(e.alice, mediaV1+"/download/"+mediaPath(keep)); r.status != 200 {
			t.Errorf("unrelated media after the purge = %d; want 200", r.status)
		}
	})
}
