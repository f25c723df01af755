package media_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"chappe.eu/chappe/internal/config"
	"chappe.eu/chappe/internal/testserver"
)

// Benchmarks of the media repository over HTTP, client and server in
// this process. B/op counts both sides; peak-heap-MB is the largest live
// heap seen while the benchmark ran (sampled every 2 ms), and
// peak-RSS-MB the process's resident high-water mark (VmHWM).
// Results are in docs/benchmarks.md ("Media").
//
//	go test -run '^$' -bench . -benchtime 5x ./internal/media/

const fiftyMB = 50 << 20

func benchServer(b *testing.B) (*testserver.Server, *testserver.Client) {
	engine := "sqlite"
	if os.Getenv("CHAPPE_BENCH_ENGINE") == "postgres" {
		engine = "postgres"
	}
	srv := testserver.Start(b, engine, func(c *config.Config) { c.Log.Level = "error" })
	return srv, srv.Register(b, "bench", "password1")
}

func BenchmarkUpload50MB(b *testing.B) {
	srv, c := benchServer(b)
	data := make([]byte, fiftyMB)
	for i := range data {
		data[i] = byte(i * 7)
	}
	b.SetBytes(fiftyMB)
	b.ReportAllocs()
	peak := watchMemory(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		binary.BigEndian.PutUint64(data, uint64(i)) // new content each time: no deduplication
		req, _ := http.NewRequest("POST", srv.URL+"/_matrix/media/v3/upload", bytes.NewReader(data))
		req.Header.Set("Authorization", "Bearer "+c.Token)
		req.Header.Set("Content-Type", "application/octet-stream")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			b.Fatalf("upload = %d", res.StatusCode)
		}
	}
	b.StopTimer()
	peak.report()
}

func BenchmarkDownload50MB(b *testing.B) {
	srv, c := benchServer(b)
	data := make([]byte, fiftyMB)
	for i := range data {
		data[i] = byte(i * 13)
	}
	req, _ := http.NewRequest("POST", srv.URL+"/_matrix/media/v3/upload", bytes.NewReader(data))
	req.Header.Set("Authorization", "Bearer "+c.Token)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		b.Fatalf("upload: %v", err)
	}
	var body struct {
		ContentURI string `json:"content_uri"`
	}
	json.NewDecoder(res.Body).Decode(&body)
	res.Body.Close()
	url := srv.URL + mediaV1 + "/download/" + mediaPath(body.ContentURI)
	data = nil
	runtime.GC()
	b.SetBytes(fiftyMB)
	b.ReportAllocs()
	peak := watchMemory(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "Bearer "+c.Token)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || n != fiftyMB {
			b.Fatalf("download = %d, %d bytes", res.StatusCode, n)
		}
	}
	b.StopTimer()
	peak.report()
}

// memWatch samples the live heap while a benchmark runs.
type memWatch struct {
	b    *testing.B
	stop chan struct{}
	done sync.WaitGroup
	peak uint64
}

func watchMemory(b *testing.B) *memWatch {
	resetPeakRSS()
	w := &memWatch{b: b, stop: make(chan struct{})}
	w.done.Add(1)
	go func() {
		defer w.done.Done()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			w.peak = max(w.peak, s[0].Value.Uint64())
			select {
			case <-w.stop:
				return
			case <-t.C:
			}
		}
	}()
	return w
}

func (w *memWatch) report() {
	close(w.stop)
	w.done.Wait()
	w.b.ReportMetric(float64(w.peak)/(1<<20), "peak-heap-MB")
	if rss := peakRSS(); rss > 0 {
		w.b.ReportMetric(float64(rss)/(1<<20), "peak-RSS-MB")
	}
}

// resetPeakRSS resets VmHWM (Linux: writing 5 to clear_refs).
func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS reads VmHWM from /proc/self/status, in bytes.
func peakRSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
