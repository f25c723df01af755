package syncapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"chappe.eu/chappe/internal/testserver"
)

// fastClient is a bare HTTP client for benchmarks: no test helpers in the
// measured path.
type fastClient struct {
	base, token string
	http        *http.Client
}

func newFast(srv *testserver.Server, c *testserver.Client) *fastClient {
	return &fastClient{base: srv.URL, token: c.Token, http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1024}}}
}

func (f *fastClient) do(method, path, body string) (int, []byte, error) {
	req, err := http.NewRequest(method, f.base+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+f.token)
	resp, err := f.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

var benchTxn atomic.Int64

func (f *fastClient) send(roomID, body string) error {
	n := benchTxn.Add(1)
	status, data, err := f.do("PUT", fmt.Sprintf("/_matrix/client/v3/rooms/%s/send/m.room.message/b%d", url.PathEscape(roomID), n),
		`{"msgtype":"m.text","body":"`+body+`"}`)
	if err == nil && status != 200 {
		err = fmt.Errorf("send = %d %s", status, data)
	}
	return err
}

func (f *fastClient) sync(since string, timeoutMS int) (string, []byte, error) {
	path := "/_matrix/client/v3/sync?timeout=" + fmt.Sprint(timeoutMS)
	if since != "" {
		path += "&since=" + url.QueryEscape(since)
	}
	status, data, err := f.do("GET", path, "")
	if err != nil {
		return "", nil, err
	}
	if status != 200 {
		return "", nil, fmt.Errorf("sync = %d %s", status, data)
	}
	var r struct {
		NextBatch string `json:"next_batch"`
	}
	err = json.Unmarshal(data, &r)
	return r.NextBatch, data, err
}

func benchRoom(b *testing.B, srv *testserver.Server, owner *testserver.Client, members ...*testserver.Client) string {
	b.Helper()
	roomID := owner.MustDo("POST", "/_matrix/client/v3/createRoom", map[string]any{"preset": "public_chat"}, 200).String("room_id")
	for _, m := range members {
		m.MustDo("POST", "/_matrix/client/v3/join/"+url.PathEscape(roomID), map[string]any{}, 200)
	}
	return roomID
}

// BenchmarkSendToSync measures the latency from PUT /send to the message
// arriving in another user's waiting /sync, over loopback, and reports the
// 50th and 99th percentiles.
func BenchmarkSendToSync(b *testing.B) {
	srv := testserver.Start(b, "sqlite", nil)
	alice := srv.Register(b, "alice", "password1")
	bob := srv.Register(b, "bob", "password1")
	roomID := benchRoom(b, srv, alice, bob)
	fa, fb := newFast(srv, alice), newFast(srv, bob)
	since, _, err := fb.sync("", 0)
	if err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		type res struct {
			next string
			data []byte
			err  error
			at   time.Time
		}
		ch := make(chan res, 1)
		go func() {
			next, data, err := fb.sync(since, 30000)
			ch <- res{next, data, err, time.Now()}
		}()
		time.Sleep(200 * time.Microsecond) // let the sync start waiting
		start := time.Now()
		if err := fa.send(roomID, fmt.Sprintf("msg %d", i)); err != nil {
			b.Fatal(err)
		}
		r := <-ch
		if r.err != nil {
			b.Fatal(r.err)
		}
		if !strings.Contains(string(r.data), fmt.Sprintf("msg %d", i)) {
			// Woken for something else first; the message comes next.
			next, data, err := fb.sync(r.next, 30000)
			if err != nil || !strings.Contains(string(data), fmt.Sprintf("msg %d", i)) {
				b.Fatalf("message %d never arrived: %v", i, err)
			}
			r.next, r.at = next, time.Now()
		}
		lat = append(lat, r.at.Sub(start))
		since = r.next
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkMessagesPerSecond: 20 rooms, each with a sender sending as fast
// as it can and a reader syncing; reports accepted messages per second, on
// each engine (the target is SQLite's).
func BenchmarkMessagesPerSecond(b *testing.B) {
	for _, engine := range testserver.Engines(b) {
		b.Run(engine, func(b *testing.B) { benchMessagesPerSecond(b, engine) })
	}
}

func benchMessagesPerSecond(b *testing.B, engine string) {
	srv := testserver.Start(b, engine, nil)
	const rooms = 20
	var senders, readers []*fastClient
	var roomIDs []string
	for i := range rooms {
		s := srv.Register(b, fmt.Sprintf("sender%d", i), "password1")
		r := srv.Register(b, fmt.Sprintf("reader%d", i), "password1")
		roomIDs = append(roomIDs, benchRoom(b, srv, s, r))
		senders, readers = append(senders, newFast(srv, s)), append(readers, newFast(srv, r))
	}
	stop := make(chan struct{})
	var syncCount atomic.Int64 // the readers' /syncs: fewer than messages when they batch
	var readersDone sync.WaitGroup
	for _, rd := range readers {
		readersDone.Add(1)
		go func() {
			defer readersDone.Done()
			since := ""
			for {
				select {
				case <-stop:
					return
				default:
				}
				next, _, err := rd.sync(since, 1000)
				syncCount.Add(1)
				if err == nil {
					since = next
				}
			}
		}()
	}
	var sent atomic.Int64
	b.ResetTimer()
	syncCount.Store(0)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range rooms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sent.Add(1) <= int64(b.N) {
				if err := senders[i].send(roomIDs[i], "hello"); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(stop)
	readersDone.Wait()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(syncCount.Load())/float64(b.N), "syncs/msg")
}

// BenchmarkInitialSync500Rooms: the initial /sync of a user in 500 rooms
// with 20 messages each.
func BenchmarkInitialSync500Rooms(b *testing.B) {
	srv := testserver.Start(b, "sqlite", nil)
	alice := srv.Register(b, "alice", "password1")
	fa := newFast(srv, alice)
	for i := range 500 {
		roomID := alice.MustDo("POST", "/_matrix/client/v3/createRoom", map[string]any{"preset": "public_chat", "name": fmt.Sprint("room ", i)}, 200).String("room_id")
		for j := range 20 {
			if err := fa.send(roomID, fmt.Sprintf("message %d", j)); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ResetTimer()
	for range b.N {
		_, data, err := fa.sync("", 0)
		if err != nil {
			b.Fatal(err)
		}
		if n := strings.Count(string(data), `"type":"m.room.message"`); n != 500*10 {
			b.Fatalf("initial sync holds %d messages; want 5000 (10 per room)", n)
		}
	}
}

// BenchmarkIdleLongPolls measures the memory that 1,000 users' waiting
// long-polls cost the server process (heap in use, as all run in this
// process).
func BenchmarkIdleLongPolls(b *testing.B) {
	const users = 1000
	for range b.N {
		srv := testserver.Start(b, "sqlite", nil)
		var clients []*fastClient
		for i := range users {
			// Registering 1,000 users (argon2id) is the slow part of the setup.
			c := srv.Register(b, fmt.Sprintf("u%d", i), "password1")
			clients = append(clients, newFast(srv, c))
		}
		nexts := make([]string, users)
		for i, c := range clients {
			next, _, err := c.sync("", 0)
			if err != nil {
				b.Fatal(err)
			}
			nexts[i] = next
		}
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		var wg sync.WaitGroup
		for i, c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.sync(nexts[i], 3000)
			}()
		}
		time.Sleep(1500 * time.Millisecond) // all are waiting now
		runtime.GC()
		var during runtime.MemStats
		runtime.ReadMemStats(&during)
		wg.Wait()
		b.ReportMetric(float64(during.HeapInuse-before.HeapInuse)/(1<<20), "MB-heap")
		b.ReportMetric(float64(runtime.NumGoroutine()), "goroutines")
	}
}
