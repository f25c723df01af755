package clientapi_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"syscall"
	"testing"
	"time"

	"chappe.eu/chappe/internal/testserver"
)

// BenchmarkMessagesWithRelations measures a /messages page of 50 events
// in a room where every message has been edited and has a thread of 3
// replies ("relations"), and in a room of plain messages ("plain"): the
// difference is what bundled aggregations cost. Each op is one request
// over loopback; cpu-ms/op is this process's CPU time (client, server and
// SQLite, not the PostgreSQL server).
func BenchmarkMessagesWithRelations(b *testing.B) {
	for _, engine := range testserver.Engines(b) {
		for _, withRelations := range []bool{false, true} {
			name := engine + "/plain"
			if withRelations {
				name = engine + "/relations"
			}
			b.Run(name, func(b *testing.B) { benchMessages(b, engine, withRelations) })
		}
	}
}

func benchMessages(b *testing.B, engine string, withRelations bool) {
	srv := testserver.Start(b, engine, nil)
	alice := srv.Register(b, "alice", "correct horse")
	roomID := alice.MustDo("POST", v3+"/createRoom", map[string]any{"preset": "public_chat"}, 200).String("room_id")
	send := func(content map[string]any) string {
		p := fmt.Sprintf("%s/rooms/%s/send/m.room.message/b%d", v3, url.PathEscape(roomID), relTxn.Add(1))
		return alice.MustDo("PUT", p, content, 200).String("event_id")
	}
	for i := range 40 {
		root := send(map[string]any{"msgtype": "m.text", "body": fmt.Sprint(i)})
		for j := range 4 {
			content := map[string]any{"msgtype": "m.text", "body": "r"}
			switch {
			case withRelations && j == 0:
				content["m.new_content"] = map[string]any{"body": "e"}
				content["m.relates_to"] = map[string]any{"rel_type": "m.replace", "event_id": root}
			case withRelations:
				content["m.relates_to"] = map[string]any{"rel_type": "m.thread", "event_id": root}
			}
			send(content)
		}
	}
	req, _ := http.NewRequest("GET", srv.URL+v3+"/rooms/"+url.PathEscape(roomID)+"/messages?dir=b&limit=50", nil)
	req.Header.Set("Authorization", "Bearer "+alice.Token)
	b.ResetTimer()
	start := relCPUTime()
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
	b.ReportMetric(float64(relCPUTime()-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}

// relCPUTime is the CPU time this process has used.
func relCPUTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
