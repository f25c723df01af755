// Package metrics records HTTP request metrics and serves them, with a
// few runtime gauges, in the Prometheus text exposition format. It is a
// small hand-written subset of what client_golang offers: counters and
// one histogram family are all Chappe needs, and they cost no dependency.
package metrics

import (
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"time"
)

// buckets are the request duration histogram's upper bounds, in seconds.
var buckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// Registry holds the metrics of one process.
type Registry struct {
	start time.Time

	mu       sync.Mutex // guards requests
	requests map[requestKey]*histogram
}

type requestKey struct {
	route  string // the ServeMux pattern, so label cardinality stays bounded
	status int
}

type histogram struct {
	counts []uint64 // per bucket, not cumulative; the last is +Inf
	sum    float64
	n      uint64
}

// New returns an empty registry.
func New() *Registry {
	return &Registry{start: time.Now(), requests: map[requestKey]*histogram{}}
}

// Middleware records the count and duration of every request by route
// and status.
func (reg *Registry) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" || route == "/" {
			route = "unmatched"
		}
		reg.observe(requestKey{route, sw.status}, time.Since(start).Seconds())
	})
}

func (reg *Registry) observe(k requestKey, seconds float64) {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	h := reg.requests[k]
	if h == nil {
		h = &histogram{counts: make([]uint64, len(buckets)+1)}
		reg.requests[k] = h
	}
	i := sort.SearchFloat64s(buckets, seconds)
	h.counts[i]++
	h.sum += seconds
	h.n++
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer
// (flushing long-polls, deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// ServeHTTP writes the metrics in the Prometheus text format.
func (reg *Registry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	reg.Write(w)
}

// Write writes the metrics to out.
func (reg *Registry) Write(out io.Writer) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Fprintf(out, "# HELP chappe_uptime_seconds Seconds since the process started.\n# TYPE chappe_uptime_seconds gauge\nchappe_uptime_seconds %g\n", time.Since(reg.start).Seconds())
	fmt.Fprintf(out, "# HELP go_goroutines Number of goroutines.\n# TYPE go_goroutines gauge\ngo_goroutines %d\n", runtime.NumGoroutine())
	fmt.Fprintf(out, "# HELP go_memstats_heap_alloc_bytes Bytes of allocated heap objects.\n# TYPE go_memstats_heap_alloc_bytes gauge\ngo_memstats_heap_alloc_bytes %d\n", ms.HeapAlloc)
	fmt.Fprintf(out, "# HELP go_memstats_sys_bytes Bytes obtained from the OS.\n# TYPE go_memstats_sys_bytes gauge\ngo_memstats_sys_bytes %d\n", ms.Sys)

	reg.mu.Lock()
	keys := make([]requestKey, 0, len(reg.requests))
	for k := range reg.requests {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].route != keys[j].route {
			return keys[i].route < keys[j].route
		}
		return keys[i].status < keys[j].status
	})
	fmt.Fprintf(out, "# HELP chappe_http_request_duration_seconds HTTP requests by route and status.\n# TYPE chappe_http_request_duration_seconds histogram\n")
	for _, k := range keys {
		h := reg.requests[k]
		labels := fmt.Sprintf("route=%s,status=\"%d\"", strconv.Quote(k.route), k.status)
		var cum uint64
		for i, le := range buckets {
			cum += h.counts[i]
			fmt.Fprintf(out, "chappe_http_request_duration_seconds_bucket{%s,le=\"%g\"} %d\n", labels, le, cum)
		}
		fmt.Fprintf(out, "chappe_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %d\n", labels, h.n)
		fmt.Fprintf(out, "chappe_http_request_duration_seconds_sum{%s} %g\n", labels, h.sum)
		fmt.Fprintf(out, "chappe_http_request_duration_seconds_count{%s} %d\n", labels, h.n)
	}
	reg.mu.Unlock()
}
