package clientapi_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"

	"chappe.eu/chappe/internal/testserver"
)

// BenchmarkMessagesWithRelations measures a /messages page of 50 events
// in a room where every message has been edited and most start a thread:
// what the bundled aggregations cost on top of formatting. Each op is one
// request over loopback.
func BenchmarkMessagesWithRelations(b *testing.B) {
	for _, engine := range testserver.Engines(b) {
		b.Run(engine, func(b *testing.B) {
			srv := testserver.Start(b, engine, nil)
			alice := srv.Register(b, "alice", "correct horse")
			roomID := alice.MustDo("POST", v3+"/createRoom", map[string]any{"preset": "public_chat"}, 200).String("room_id")
			send := func(content map[string]any) string {
				p := fmt.Sprintf("%s/rooms/%s/send/m.room.message/b%d", v3, url.PathEscape(roomID), relTxn.Add(1))
				return alice.MustDo("PUT", p, content, 200).String("event_id")
			}
			for i := range 40 {
				root := send(map[string]any{"msgtype": "m.text", "body": fmt.Sprint(i)})
				send(map[string]any{"msgtype": "m.text", "body": "* e", "m.new_content": map[string]any{"body": "e"},
					"m.relates_to": map[string]any{"rel_type": "m.replace", "event_id": root}})
				for range 3 {
					send(map[string]any{"msgtype": "m.text", "body": "r",
						"m.relates_to": map[string]any{"rel_type": "m.thread", "event_id": root}})
				}
			}
			req, _ := http.NewRequest("GET", srv.URL+v3+"/rooms/"+url.PathEscape(roomID)+"/messages?dir=b&limit=50", nil)
			req.Header.Set("Authorization", "Bearer "+alice.Token)
			b.ResetTimer()
			for range b.N {
				resp, err := http.DefaultClient.Do(req.Clone(req.Context()))
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("messages = %d", resp.StatusCode)
				}
			}
		})
	}
}
