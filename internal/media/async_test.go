package media_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"chappe.eu/chappe/internal/config"
	"chappe.eu/chappe/internal/testserver"
)

func (e *env) create(c *testserver.Client) (mxc string, expires float64) {
	e.t.Helper()
	r := do(e.t, "POST", e.srv.URL+"/_matrix/media/v1/create", c.Token, nil, nil)
	if r.status != 200 {
		e.t.Fatalf("create = %d %s; want 200", r.status, r.body)
	}
	body := r.json(e.t)
	mxc, _ = body["content_uri"].(string)
	expires, _ = body["unused_expires_at"].(float64)
	return mxc, expires
}

func (e *env) put(c *testserver.Client, mxc string, data []byte, contentType string) *resp {
	e.t.Helper()
	return do(e.t, "PUT", e.srv.URL+"/_matrix/media/v3/upload/"+mediaPath(mxc)+"?filename=late.txt", c.Token,
		bytes.NewReader(data), map[string]string{"Content-Type": contentType})
}

func TestAsyncUpload(t *testing.T) {
	forEachEngine(t, nil, func(t *testing.T, e *env) {
		before := time.Now()
		mxc, expires := e.create(e.alice)
		if exp := time.UnixMilli(int64(expires)); exp.Before(before.Add(23*time.Hour)) || exp.After(time.Now().Add(25*time.Hour)) {
			t.Errorf("unused_expires_at = %v; want about 24h from now", exp)
		}

		// Before the upload: 504 M_NOT_YET_UPLOADED once timeout_ms passes.
		r := e.get(e.alice, mediaV1+"/download/"+mediaPath(mxc)+"?timeout_ms=100")
		if r.status != 504 || r.errcode(t) != "M_NOT_YET_UPLOADED" {
			t.Errorf("download before upload = %d %s; want 504 M_NOT_YET_UPLOADED", r.status, r.body)
		}

		// A download waiting for the content gets it when it comes.
		got := make(chan *resp, 1)
		go func() { got <- e.get(e.alice, mediaV1+"/download/"+mediaPath(mxc)+"?timeout_ms=10000") }()
		time.Sleep(200 * time.Millisecond)

		// Another user may not upload to it.
		bob := e.srv.Register(t, "bob", "password1")
		if r := e.put(bob, mxc, []byte("bob's"), "text/plain"); r.status != 403 || r.errcode(t) != "M_FORBIDDEN" {
			t.Errorf("PUT by another user = %d %s; want 403 M_FORBIDDEN", r.status, r.body)
		}
		if r := e.put(e.alice, mxc, []byte("arrived"), "text/plain"); r.status != 200 {
			t.Fatalf("PUT = %d %s; want 200", r.status, r.body)
		}
		select {
		case r := <-got:
			if r.status != 200 || string(r.body) != "arrived" || r.header.Get("Content-Disposition") != "inline; filename=late.txt" {
				t.Errorf("waiting download = %d %q (%s); want 200 \"arrived\"", r.status, r.body, r.header.Get("Content-Disposition"))
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the waiting download did not get the content")
		}
		// The content cannot be replaced.
		if r := e.put(e.alice, mxc, []byte("again"), "text/plain"); r.status != 409 || r.errcode(t) != "M_CANNOT_OVERWRITE_MEDIA" {
			t.Errorf("second PUT = %d %s; want 409 M_CANNOT_OVERWRITE_MEDIA", r.status, r.body)
		}
		// IDs that were never created.
		if r := e.put(e.alice, "mxc://chappe.test/neverCreated", []byte("x"), "text/plain"); r.status != 404 || r.errcode(t) != "M_NOT_FOUND" {
			t.Errorf("PUT to an unknown ID = %d %s; want 404 M_NOT_FOUND", r.status, r.body)
		}
		up := e.upload(e.alice, []byte("direct"), "text/plain", "")
		if r := e.put(e.alice, up, []byte("x"), "text/plain"); r.status != 409 {
			t.Errorf("PUT to a directly uploaded ID = %d %s; want 409", r.status, r.body)
		}
	})
}

func TestAsyncUploadLimits(t *testing.T) {
	forEachEngine(t, func(c *config.Config) {
		c.Media.MaxPendingUploads = 2
		c.Media.UnusedExpiry = time.Minute
		c.Media.MaxUploadBytes = 2048
	}, func(t *testing.T, e *env) {
		a, _ := e.create(e.alice)
		e.create(e.alice)
		r := do(t, "POST", e.srv.URL+"/_matrix/media/v1/create", e.alice.Token, nil, nil)
		if r.status != 429 || r.errcode(t) != "M_LIMIT_EXCEEDED" {
			t.Errorf("third pending create = %d %s; want 429 M_LIMIT_EXCEEDED", r.status, r.body)
		}
		// Uploading frees a slot.
		if r := e.put(e.alice, a, []byte("x"), "text/plain"); r.status != 200 {
			t.Fatalf("PUT = %d %s", r.status, r.body)
		}
		e.create(e.alice)
		// Size limit on PUT too.
		dave := e.srv.Register(t, "dave", "password1")
		b, _ := e.create(dave)
		if r := e.put(dave, b, make([]byte, 4096), "text/plain"); r.status != 413 || r.errcode(t) != "M_TOO_LARGE" {
			t.Errorf("PUT too large = %d %s; want 413 M_TOO_LARGE", r.status, r.body)
		}
	})
}

// An ID not uploaded to before unused_expires_at is gone.
func TestAsyncUploadExpiry(t *testing.T) {
	forEachEngine(t, func(c *config.Config) { c.Media.UnusedExpiry = time.Minute }, func(t *testing.T, e *env) {
		mxc, _ := e.create(e.alice)
		id := mxc[strings.LastIndexByte(mxc, '/')+1:]
		// Age it in the database rather than waiting a minute.
		e.exec(`UPDATE media SET unused_expires_ts = $1 WHERE media_id = $2`, time.Now().Add(-time.Second).UnixMilli(), id)
		if r := e.put(e.alice, mxc, []byte("late"), "text/plain"); r.status != http.StatusNotFound || r.errcode(t) != "M_NOT_FOUND" {
			t.Errorf("PUT after expiry = %d %s; want 404 M_NOT_FOUND", r.status, r.body)
		}
		if r := e.get(e.alice, mediaV1+"/download/"+mediaPath(mxc)); r.status != 404 {
			t.Errorf("download after expiry = %d %s; want 404", r.status, r.body)
		}
	})
}
