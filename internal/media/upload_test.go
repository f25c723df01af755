package media_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"chappe.eu/chappe/internal/config"
)

const mediaV1 = "/_matrix/client/v1/media"

func TestUploadDownload(t *testing.T) {
	forEachEngine(t, nil, func(t *testing.T, e *env) {
		data := []byte("hello, media")
		mxc := e.upload(e.alice, data, "text/plain", "hello.txt")

		r := e.get(e.alice, mediaV1+"/download/"+mediaPath(mxc))
		if r.status != http.StatusOK || !bytes.Equal(r.body, data) {
			t.Fatalf("download = %d %q; want 200 %q", r.status, r.body, data)
		}
		wantHeaders := map[string]string{
			"Content-Type":                 "text/plain",
			"Content-Disposition":          "inline; filename=hello.txt",
			"Content-Security-Policy":      "sandbox; default-src 'none'; script-src 'none'; plugin-types application/pdf; style-src 'unsafe-inline'; object-src 'self';",
			"X-Content-Type-Options":       "nosniff",
			"Cross-Origin-Resource-Policy": "cross-origin",
			"Content-Length":               fmt.Sprint(len(data)),
		}
		for k, want := range wantHeaders {
			if got := r.header.Get(k); got != want {
				t.Errorf("%s = %q; want %q", k, got, want)
			}
		}

		// The file name in the path replaces the uploaded one.
		r = e.get(e.alice, mediaV1+"/download/"+mediaPath(mxc)+"/other%20name.txt")
		if got, want := r.header.Get("Content-Disposition"), `inline; filename="other name.txt"`; got != want {
			t.Errorf("Content-Disposition with a file name in the path = %q; want %q", got, want)
		}

		// Authenticated endpoints need a token.
		if r := e.get(nil, mediaV1+"/download/"+mediaPath(mxc)); r.status != http.StatusUnauthorized || r.errcode(t) != "M_MISSING_TOKEN" {
			t.Errorf("download without a token = %d %s; want 401 M_MISSING_TOKEN", r.status, r.body)
		}
		// Range requests work (clients seek in video).
		r = do(t, "GET", e.srv.URL+mediaV1+"/download/"+mediaPath(mxc), e.alice.Token, nil, map[string]string{"Range": "bytes=7-"})
		if r.status != http.StatusPartialContent || string(r.body) != "media" {
			t.Errorf("range download = %d %q; want 206 \"media\"", r.status, r.body)
		}
		// Unknown media, bad IDs, remote servers.
		for path, want := range map[string]int{
			"/download/chappe.test/nosuchmedia":                     404,
			"/download/chappe.test/bad.id":                          400,
			"/download/other.example/abcdef":                        404,
			"/download/bad%20server/abcdef":                         400,
			"/thumbnail/chappe.test/nosuchmedia?width=32&height=32": 404,
		} {
			if r := e.get(e.alice, mediaV1+path); r.status != want {
				t.Errorf("GET %s = %d %s; want %d", path, r.status, r.body, want)
			}
		}
		r = e.get(e.alice, mediaV1+"/config")
		if r.status != 200 || r.json(t)["m.upload.size"] != float64(50<<20) {
			t.Errorf("config = %d %s; want m.upload.size %d", r.status, r.body, 50<<20)
		}
	})
}

// Content is stored once per hash, as data_dir/media/ab/cd/<sha256>, and
// nothing is left in the spool directory.
func TestContentAddressedStorage(t *testing.T) {
	forEachEngine(t, nil, func(t *testing.T, e *env) {
		data := bytes.Repeat([]byte("dedup "), 1000)
		a := e.upload(e.alice, data, "application/octet-stream", "")
		bob := e.srv.Register(t, "bob", "password1")
		b := e.upload(bob, data, "text/plain", "b.txt")
		if a == b {
			t.Fatalf("two uploads got the same media ID %s", a)
		}
		sum := sha256.Sum256(data)
		h := hex.EncodeToString(sum[:])
		path := filepath.Join(e.srv.Config.DataDir, "media", h[:2], h[2:4], h)
		got, err := os.ReadFile(path)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("blob at %s: %v (same content: %t)", path, err, bytes.Equal(got, data))
		}
		n := 0
		filepath.Walk(filepath.Join(e.srv.Config.DataDir, "media"), func(p string, info os.FileInfo, err error) error {
			if err == nil && !info.IsDir() {
				n++
			}
			return nil
		})
		if n != 1 {
			t.Errorf("%d files under media/; want 1 (deduplicated, no spool left)", n)
		}
		// Each upload keeps its own type and name.
		if r := e.get(bob, mediaV1+"/download/"+mediaPath(b)); r.header.Get("Content-Disposition") != "inline; filename=b.txt" {
			t.Errorf("bob's download disposition = %q", r.header.Get("Content-Disposition"))
		}
		if r := e.get(bob, mediaV1+"/download/"+mediaPath(a)); r.header.Get("Content-Disposition") != "attachment" ||
			r.header.Get("Content-Type") != "application/octet-stream" {
			t.Errorf("alice's download: type %q disposition %q; want application/octet-stream, attachment",
				r.header.Get("Content-Type"), r.header.Get("Content-Disposition"))
		}
	})
}

// What could run script in a browser is never served inline.
var dispositionCases = []struct {
	contentType, filename string
	want                  string
}{
	{"text/html", "page.html", "attachment; filename=page.html"},
	{"text/html; charset=utf-8", "", "attachment"},
	{"image/svg+xml", "x.svg", "attachment; filename=x.svg"},
	{"application/javascript", "x.js", "attachment; filename=x.js"},
	{"text/javascript", "", "attachment"},
	{"application/xhtml+xml", "", "attachment"},
	{"text/xml", "", "attachment"},
	{"application/xml", "", "attachment"},
	{"application/pdf", "", "attachment"},
	{"TEXT/HTML", "", "attachment"},
	{"image/png", "a.png", "inline; filename=a.png"},
	{"image/jpeg", "", "inline"},
	{"video/mp4", "clip.mp4", "inline; filename=clip.mp4"},
	{"text/plain; charset=utf-8", "", "inline"},
	{"application/octet-stream", "", "attachment"},
	{"not a type", "", "attachment"},
	{"image/png", "naïve café.png", "inline; filename*=UTF-8''na%C3%AFve%20caf%C3%A9.png"},
	{"image/png", `quote".png`, "inline; filename*=UTF-8''quote%22.png"},
	{"image/png", "a;b=c.png", `inline; filename="a;b=c.png"`},
	{"image/png", "日本.png", "inline; filename*=UTF-8''%E6%97%A5%E6%9C%AC.png"},
}

func TestSafeServing(t *testing.T) {
	forEachEngine(t, nil, func(t *testing.T, e *env) {
		for _, c := range dispositionCases {
			mxc := e.upload(e.alice, []byte("<script>alert(1)</script>"), c.contentType, c.filename)
			r := e.get(e.alice, mediaV1+"/download/"+mediaPath(mxc))
			if got := r.header.Get("Content-Disposition"); got != c.want {
				t.Errorf("upload as %q named %q: Content-Disposition = %q; want %q", c.contentType, c.filename, got, c.want)
			}
			if r.header.Get("X-Content-Type-Options") != "nosniff" || !strings.HasPrefix(r.header.Get("Content-Security-Policy"), "sandbox;") {
				t.Errorf("upload as %q: missing nosniff or the sandbox CSP", c.contentType)
			}
		}
		// A filename with a control character is refused.
		if r := e.uploadRaw(e.alice, []byte("x"), "text/plain", "a\nb"); r.status != 400 {
			t.Errorf("upload named with a newline = %d; want 400", r.status)
		}
	})
}

func TestUploadTooLarge(t *testing.T) {
	forEachEngine(t, func(c *config.Config) { c.Media.MaxUploadBytes = 64 << 10 }, func(t *testing.T, e *env) {
		// Announced too large: refused from the Content-Length.
		r := e.uploadRaw(e.alice, make([]byte, 64<<10+1), "application/octet-stream", "")
		if r.status != 413 || r.errcode(t) != "M_TOO_LARGE" {
			t.Errorf("upload of max+1 bytes = %d %s; want 413 M_TOO_LARGE", r.status, r.body)
		}
		// Exactly the limit is fine.
		e.upload(e.alice, make([]byte, 64<<10), "application/octet-stream", "")
		// Not announced (chunked): cut off while streaming.
		body := io.MultiReader(bytes.NewReader(make([]byte, 100<<10)))
		r = do(t, "POST", e.srv.URL+"/_matrix/media/v3/upload", e.alice.Token, body, map[string]string{"Content-Type": "application/octet-stream"})
		if r.status != 413 || r.errcode(t) != "M_TOO_LARGE" {
			t.Errorf("chunked upload past the limit = %d %s; want 413 M_TOO_LARGE", r.status, r.body)
		}
		assertNoSpool(t, e)
	})
}

// A client that announces a huge body gets its 413 without the server
// reading the body: here the body is never sent at all.
func TestUploadRefusedBeforeReading(t *testing.T) {
	forEachEngine(t, nil, func(t *testing.T, e *env) {
		conn, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /_matrix/media/v3/upload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", e.alice.Token, int64(1)<<40)
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 4096)
		n, _ := io.ReadAtLeast(conn, buf, 12)
		if !strings.HasPrefix(string(buf[:n]), "HTTP/1.1 413") {
			t.Fatalf("answer to a 1 TiB Content-Length = %q; want 413 at once", buf[:n])
		}
	})
}

func TestQuota(t *testing.T) {
	forEachEngine(t, func(c *config.Config) { c.Media.MaxUserBytes = 10_000 }, func(t *testing.T, e *env) {
		e.upload(e.alice, make([]byte, 6000), "application/octet-stream", "")
		r := e.uploadRaw(e.alice, make([]byte, 6000), "application/octet-stream", "")
		if r.status != 403 || r.errcode(t) != "M_FORBIDDEN" {
			t.Errorf("upload past the quota = %d %s; want 403 M_FORBIDDEN", r.status, r.body)
		}
		// Chunked: the quota is checked again with the real size.
		r = do(t, "POST", e.srv.URL+"/_matrix/media/v3/upload", e.alice.Token, io.MultiReader(bytes.NewReader(make([]byte, 6000))), nil)
		if r.status != 403 {
			t.Errorf("chunked upload past the quota = %d %s; want 403", r.status, r.body)
		}
		// Another user has their own quota.
		bob := e.srv.Register(t, "bob", "password1")
		e.upload(bob, make([]byte, 6000), "application/octet-stream", "")
	})
}

func TestUploadRateLimit(t *testing.T) {
	forEachEngine(t, func(c *config.Config) {
		c.RateLimit.Enabled = true
		c.RateLimit.Register = config.Rate{PerSecond: 100, Burst: 100}
		c.Media.UploadRate = config.Rate{PerSecond: 0.01, Burst: 2}
	}, func(t *testing.T, e *env) {
		e.upload(e.alice, []byte("1"), "text/plain", "")
		e.upload(e.alice, []byte("2"), "text/plain", "")
		r := e.uploadRaw(e.alice, []byte("3"), "text/plain", "")
		if r.status != 429 || r.errcode(t) != "M_LIMIT_EXCEEDED" || r.json(t)["retry_after_ms"] == nil {
			t.Errorf("third upload = %d %s; want 429 M_LIMIT_EXCEEDED with retry_after_ms", r.status, r.body)
		}
		r = do(t, "POST", e.srv.URL+"/_matrix/media/v1/create", e.alice.Token, nil, nil)
		if r.status != 429 {
			t.Errorf("create after the limit = %d; want 429", r.status)
		}
	})
}

func assertNoSpool(t *testing.T, e *env) {
	t.Helper()
	entries, _ := os.ReadDir(filepath.Join(e.srv.Config.DataDir, "media", "tmp"))
	if len(entries) != 0 {
		t.Errorf("%d files left in the spool directory", len(entries))
	}
}
