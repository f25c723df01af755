package media_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"chappe.eu/chappe/internal/config"
)

// origin is a website on 127.0.0.1 for preview tests: nothing in them
// leaves the machine.
type origin struct {
	*httptest.Server
	hits atomic.Int64
}

func newOrigin(t *testing.T, img []byte) *origin {
	o := &origin{}
	mux := http.NewServeMux()
	mux.HandleFunc("/page", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><html><head>
<title>Ignored when og:title is there</title>
<meta property="og:title" content="Chappe &amp; friends">
<meta property="og:description" content="  A   page
 about media ">
<meta property="og:image" content="/img.png">
<meta property="og:site_name" content="Example">
<script>document.write('<meta property="og:title" content="from script">')</script>
</head><body><meta property="og:title" content="late duplicate"></body></html>`)
	})
	mux.HandleFunc("/plain", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, `<html><head><title>Just a title</title><meta name="description" content="Described"></head></html>`)
	})
	mux.HandleFunc("/latin1", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=iso-8859-1")
		w.Write([]byte("<html><head><title>Caf\xe9</title></head></html>"))
	})
	mux.HandleFunc("/img.png", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Write(img)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, "<html><head><!--"+strings.Repeat("x", 8<<10)+`--><meta property="og:title" content="past the cap"></head></html>`)
	})
	mux.HandleFunc("/endless", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(`<html><head><meta property="og:title" content="endless">`))
		chunk := bytes.Repeat([]byte("<p>and on</p>"), 1000)
		for i := 0; i < 10000; i++ { // 130 MB if anyone read it all
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop", http.StatusFound)
	})
	mux.HandleFunc("/to-private", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://10.0.0.1:9/secret", http.StatusFound)
	})
	mux.HandleFunc("/to-metadata", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
	})
	mux.HandleFunc("/redirected", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/plain", http.StatusMovedPermanently)
	})
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.hits.Add(1)
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(o.Close)
	return o
}

func (e *env) preview(target string, ts int64) *resp {
	e.t.Helper()
	q := "url=" + url.QueryEscape(target)
	if ts != 0 {
		q += fmt.Sprintf("&ts=%d", ts)
	}
	return e.get(e.alice, mediaV1+"/preview_url?"+q)
}

// previewsOn turns previews on and admits 127.0.0.1, for this test only.
func previewsOn(c *config.Config) {
	c.Media.URLPreview.Enabled = true
	c.Media.URLPreview.AllowIPs = []string{"127.0.0.1/32"}
	c.Media.URLPreview.MaxPageBytes = 4096
	c.Media.URLPreview.Timeout = time.Second
	c.Media.URLPreview.MaxRedirects = 3
}

func TestURLPreview(t *testing.T) {
	img := pngBytes(t, 64, 48)
	forEachEngine(t, previewsOn, func(t *testing.T, e *env) {
		o := newOrigin(t, img)
		r := e.preview(o.URL+"/page", 0)
		if r.status != 200 {
			t.Fatalf("preview = %d %s", r.status, r.body)
		}
		og := r.json(t)
		want := map[string]any{
			"og:title": "Chappe & friends", "og:description": "A page about media", "og:site_name": "Example",
			"og:image:type": "image/png", "og:image:width": float64(64), "og:image:height": float64(48),
			"matrix:image:size": float64(len(img)),
		}
		for k, v := range want {
			if og[k] != v {
				t.Errorf("%s = %v; want %v", k, og[k], v)
			}
		}
		mxc, _ := og["og:image"].(string)
		if !strings.HasPrefix(mxc, "mxc://chappe.test/") {
			t.Fatalf("og:image = %q; want an mxc URI", mxc)
		}
		if d := e.get(e.alice, mediaV1+"/download/"+mediaPath(mxc)); d.status != 200 || !bytes.Equal(d.body, img) {
			t.Errorf("download of the preview image = %d (%d bytes); want the image", d.status, len(d.body))
		}

		// Cached per URL and time bucket: no new fetch.
		hits := o.hits.Load()
		if r := e.preview(o.URL+"/page", 0); r.status != 200 || r.json(t)["og:title"] != "Chappe & friends" {
			t.Errorf("cached preview = %d %s", r.status, r.body)
		}
		if o.hits.Load() != hits {
			t.Errorf("a cached preview fetched the page again")
		}
		// Another time bucket is fetched anew.
		if r := e.preview(o.URL+"/page", time.Now().Add(-48*time.Hour).UnixMilli()); r.status != 200 || o.hits.Load() == hits {
			t.Errorf("preview for another time: %d, fetched: %t", r.status, o.hits.Load() != hits)
		}
		if n := e.count(`SELECT COUNT(*) FROM media_url_previews`); n < 1 {
			t.Errorf("%d previews cached in the database", n)
		}

		for path, wantTitle := range map[string]string{
			"/plain":      "Just a title",
			"/latin1":     "Café",
			"/redirected": "Just a title",
			"/endless":    "endless",
			"/big":        "", // past max_page_bytes
		} {
			r := e.preview(o.URL+path, 0)
			if r.status != 200 {
				t.Errorf("preview of %s = %d %s", path, r.status, r.body)
				continue
			}
			if got, _ := r.json(t)["og:title"].(string); got != wantTitle {
				t.Errorf("preview of %s: og:title = %q; want %q", path, got, wantTitle)
			}
		}
		if got := e.preview(o.URL+"/plain", 0).json(t)["og:description"]; got != "Described" {
			t.Errorf("og:description fallback = %v; want Described", got)
		}

		// The URL of an image: the image itself.
		r = e.preview(o.URL+"/img.png", 0)
		if og := r.json(t); r.status != 200 || og["og:image:width"] != float64(64) {
			t.Errorf("preview of an image = %d %s", r.status, r.body)
		}

		start := time.Now()
		if r := e.preview(o.URL+"/slow", 0); r.status != 502 {
			t.Errorf("slow page = %d %s; want 502", r.status, r.body)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("slow page took %v; the timeout is 1s", d)
		}
		if r := e.preview(o.URL+"/loop", 0); r.status != 502 {
			t.Errorf("redirect loop = %d %s; want 502", r.status, r.body)
		}
		// Redirects are checked like the first URL, when connecting.
		for _, p := range []string{"/to-private", "/to-metadata"} {
			if r := e.preview(o.URL+p, 0); r.status != 403 || r.errcode(t) != "M_FORBIDDEN" {
				t.Errorf("redirect %s = %d %s; want 403 M_FORBIDDEN", p, r.status, r.body)
			}
		}
		for _, bad := range []string{"", "ftp://example.org/", "http://user:pw@127.0.0.1/", "javascript:alert(1)", "/relative"} {
			if r := e.get(e.alice, mediaV1+"/preview_url?url="+url.QueryEscape(bad)); r.status != 400 {
				t.Errorf("preview of %q = %d; want 400", bad, r.status)
			}
		}
		if r := e.get(nil, mediaV1+"/preview_url?url="+url.QueryEscape(o.URL+"/page")); r.status != 401 {
			t.Errorf("preview without a token = %d; want 401", r.status)
		}
	})
}

// By default loopback, private, link-local and the other special ranges
// are refused, whatever the URL looks like; the origin never hears of it.
func TestURLPreviewDenylist(t *testing.T) {
	forEachEngine(t, func(c *config.Config) { c.Media.URLPreview.Enabled = true }, func(t *testing.T, e *env) {
		o := newOrigin(t, nil)
		port := o.URL[strings.LastIndexByte(o.URL, ':')+1:]
		for _, u := range []string{
			o.URL + "/plain",                               // 127.0.0.1
			"http://localhost:" + port + "/plain",          // a name resolving to loopback
			"http://127.1.2.3:" + port + "/",               // all of 127/8
			"http://[::1]:" + port + "/plain",              // IPv6 loopback
			"http://[::ffff:127.0.0.1]:" + port + "/plain", // IPv4-mapped
			"http://0.0.0.0:" + port + "/plain",
			"http://10.0.0.1/",
			"http://172.16.5.4/",
			"http://192.168.1.1/",
			"http://100.64.0.1/",      // CGNAT
			"http://169.254.169.254/", // cloud metadata
			"http://[fe80::1]/",
			"http://[fd00::1]/",
			"http://224.0.0.1/",
		} {
			r := e.preview(u, 0)
			if r.status != 403 || r.errcode(t) != "M_FORBIDDEN" {
				t.Errorf("preview of %s = %d %s; want 403 M_FORBIDDEN", u, r.status, r.body)
			}
		}
		if n := o.hits.Load(); n != 0 {
			t.Errorf("the origin on 127.0.0.1 got %d requests", n)
		}
	})
}

func TestURLPreviewDisabledByDefault(t *testing.T) {
	forEachEngine(t, nil, func(t *testing.T, e *env) {
		r := e.preview("http://127.0.0.1:9/", 0)
		if r.status != 404 || r.errcode(t) != "M_UNRECOGNIZED" {
			t.Errorf("preview with previews off = %d %s; want 404 M_UNRECOGNIZED", r.status, r.body)
		}
	})
}
