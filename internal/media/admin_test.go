package media_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"chappe.eu/chappe/internal/config"
	"chappe.eu/chappe/internal/testserver"
)

// The legacy unauthenticated endpoints are frozen by default: they serve
// what was uploaded while they were open, and nothing newer.
func TestLegacyFreeze(t *testing.T) {
	for _, engine := range testserver.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			cfg := testserver.Config(t, engine)
			cfg.Media.LegacyEndpoints = "open"
			srv := testserver.StartConfig(t, cfg)
			e := &env{t: t, srv: srv, alice: srv.Register(t, "alice", "password1")}
			old := e.upload(e.alice, pngBytes(t, 64, 48), "image/png", "old.png")
			if r := e.get(nil, "/_matrix/media/v3/download/"+mediaPath(old)); r.status != 200 {
				t.Fatalf("legacy download while open = %d %s; want 200", r.status, r.body)
			}
			srv.Shutdown(context.Background())

			// Restart the same data, frozen (the default).
			cfg.Media.LegacyEndpoints = config.Default().Media.LegacyEndpoints
			srv = testserver.StartConfig(t, cfg)
			e = &env{t: t, srv: srv, alice: srv.Login(t, "alice", "password1")}
			newer := e.upload(e.alice, pngBytes(t, 64, 48), "image/png", "new.png")
			for _, p := range []string{"/_matrix/media/v3/download/", "/_matrix/media/r0/download/"} {
				if r := e.get(nil, p+mediaPath(old)); r.status != 200 || r.header.Get("Content-Security-Policy") == "" {
					t.Errorf("legacy download of old media = %d %s; want 200 with the CSP", r.status, r.body)
				}
				if r := e.get(nil, p+mediaPath(newer)); r.status != 404 || r.errcode(t) != "M_NOT_FOUND" {
					t.Errorf("legacy download of new media = %d %s; want 404 M_NOT_FOUND", r.status, r.body)
				}
			}
			if r := e.get(nil, "/_matrix/media/v3/thumbnail/"+mediaPath(old)+"?width=32&height=32&method=crop"); r.status != 200 {
				t.Errorf("legacy thumbnail of old media = %d %s; want 200", r.status, r.body)
			}
			if r := e.get(nil, "/_matrix/media/v3/thumbnail/"+mediaPath(newer)+"?width=32&height=32"); r.status != 404 {
				t.Errorf("legacy thumbnail of new media = %d %s; want 404", r.status, r.body)
			}
			// Authenticated endpoints serve both.
			for _, m := range []string{old, newer} {
				if r := e.get(e.alice, mediaV1+"/download/"+mediaPath(m)); r.status != 200 {
					t.Errorf("authenticated download of %s = %d; want 200", m, r.status)
				}
			}
			srv.Shutdown(context.Background())

			cfg.Media.LegacyEndpoints = "off"
			srv = testserver.StartConfig(t, cfg)
			e = &env{t: t, srv: srv}
			if r := e.get(nil, "/_matrix/media/v3/download/"+mediaPath(old)); r.status != 404 {
				t.Errorf("legacy download with the endpoints off = %d; want 404", r.status)
			}
		})
	}
}

func TestAdminQuarantineAndDelete(t *testing.T) {
	forEachEngine(t, nil, func(t *testing.T, e *env) {
		admin := e.makeAdmin("root")
		data := []byte("shared content")
		a := e.upload(e.alice, data, "text/plain", "")
		bob := e.srv.Register(t, "bob", "password1")
		b := e.upload(bob, data, "text/plain", "")
		const adm = "/_synapse/admin/v1/media/"

		// Only administrators.
		if r := do(t, "POST", e.srv.URL+adm+"quarantine/"+mediaPath(a), e.alice.Token, nil, nil); r.status != 403 {
			t.Errorf("quarantine by a user = %d; want 403", r.status)
		}
		if r := do(t, "POST", e.srv.URL+adm+"quarantine/"+mediaPath(a), admin.Token, nil, nil); r.status != 200 {
			t.Fatalf("quarantine = %d %s", r.status, r.body)
		}
		if r := e.get(e.alice, mediaV1+"/download/"+mediaPath(a)); r.status != 404 {
			t.Errorf("download of quarantined media = %d; want 404", r.status)
		}
		if r := e.get(e.alice, mediaV1+"/thumbnail/"+mediaPath(a)+"?width=32&height=32"); r.status != 404 {
			t.Errorf("thumbnail of quarantined media = %d; want 404", r.status)
		}
		// Quarantine is per media ID: bob's copy is served.
		if r := e.get(bob, mediaV1+"/download/"+mediaPath(b)); r.status != 200 {
			t.Errorf("download of the same content under another ID = %d; want 200", r.status)
		}
		r := e.get(admin, adm+mediaPath(a))
		if info, _ := r.json(t)["media_info"].(map[string]any); r.status != 200 || info["quarantined_by"] != admin.UserID {
			t.Errorf("media info = %d %s; want quarantined_by %s", r.status, r.body, admin.UserID)
		}
		if r := do(t, "POST", e.srv.URL+adm+"unquarantine/"+mediaPath(a), admin.Token, nil, nil); r.status != 200 {
			t.Fatalf("unquarantine = %d %s", r.status, r.body)
		}
		if r := e.get(e.alice, mediaV1+"/download/"+mediaPath(a)); r.status != 200 {
			t.Errorf("download after unquarantine = %d; want 200", r.status)
		}

		// Delete: the content stays while bob's item refers to it.
		blob := blobPath(e, data)
		r = do(t, "DELETE", e.srv.URL+adm+mediaPath(a), admin.Token, nil, nil)
		if body := r.json(t); r.status != 200 || body["total"] != float64(1) {
			t.Fatalf("delete = %d %s; want total 1", r.status, r.body)
		}
		if r := e.get(e.alice, mediaV1+"/download/"+mediaPath(a)); r.status != 404 {
			t.Errorf("download after delete = %d; want 404", r.status)
		}
		if _, err := os.Stat(blob); err != nil {
			t.Errorf("shared content deleted with one of its media IDs: %v", err)
		}
		if r := do(t, "DELETE", e.srv.URL+adm+mediaPath(b), admin.Token, nil, nil); r.status != 200 {
			t.Fatalf("delete = %d %s", r.status, r.body)
		}
		if _, err := os.Stat(blob); !os.IsNotExist(err) {
			t.Errorf("content still on disk after its last media ID was deleted: %v", err)
		}
		if r := do(t, "DELETE", e.srv.URL+adm+mediaPath(b), admin.Token, nil, nil); r.status != 404 {
			t.Errorf("second delete = %d; want 404", r.status)
		}
		if r := do(t, "DELETE", e.srv.URL+adm+"other.example/abc", admin.Token, nil, nil); r.status != 400 {
			t.Errorf("delete of remote media = %d; want 400", r.status)
		}
	})
}

// PurgeMediaOfEvent is what the rooms code calls when it redacts an
// event: the media it names goes, with its thumbnails and content.
func TestPurgeMediaOfEvent(t *testing.T) {
	forEachEngine(t, nil, func(t *testing.T, e *env) {
		img := pngBytes(t, 400, 300)
		photo := e.upload(e.alice, img, "image/png", "photo.png")
		if r := e.get(e.alice, mediaV1+"/thumbnail/"+mediaPath(photo)+"?width=96&height=96&method=crop"); r.status != 200 {
			t.Fatalf("thumbnail = %d %s", r.status, r.body)
		}
		keep := e.upload(e.alice, []byte("unrelated"), "text/plain", "")
		if n := e.count(`SELECT COUNT(*) FROM media_thumbnails`); n != 1 {
			t.Fatalf("%d thumbnails stored; want 1", n)
		}
		err := e.srv.Media.PurgeMediaOfEvent(context.Background(), []string{
			photo,
			"mxc://other.example/remoteMedia", // not ours: ignored
			"https://example.org/x.png",       // not mxc: ignored
			"mxc://chappe.test/neverExisted",  // unknown: ignored
		})
		if err != nil {
			t.Fatal(err)
		}
		if r := e.get(e.alice, mediaV1+"/download/"+mediaPath(photo)); r.status != 404 {
			t.Errorf("download after purge = %d; want 404", r.status)
		}
		if r := e.get(e.alice, mediaV1+"/download/"+mediaPath(keep)); r.status != 200 {
			t.Errorf("unrelated media after purge = %d; want 200", r.status)
		}
		if n := e.count(`SELECT COUNT(*) FROM media_thumbnails`); n != 0 {
			t.Errorf("%d thumbnails left after purge", n)
		}
		if _, err := os.Stat(blobPath(e, img)); !os.IsNotExist(err) {
			t.Errorf("content still on disk after purge: %v", err)
		}
		if n := e.count(`SELECT COUNT(*) FROM media_blobs`); n != 1 {
			t.Errorf("%d content rows after purge; want 1 (the unrelated upload)", n)
		}
		// Only the unrelated upload's file remains (and no thumbnail file).
		var files []string
		filepath.Walk(filepath.Join(e.srv.Config.DataDir, "media"), func(p string, info os.FileInfo, err error) error {
			if err == nil && !info.IsDir() {
				files = append(files, p)
			}
			return nil
		})
		if len(files) != 1 || !strings.HasSuffix(files[0], sha256Hex([]byte("unrelated"))) {
			t.Errorf("files left after purge: %v; want only the unrelated upload", files)
		}
	})
}

// makeAdmin registers a user and makes them a server administrator.
func (e *env) makeAdmin(name string) *testserver.Client {
	e.t.Helper()
	c := e.srv.Register(e.t, name, "password1")
	e.exec(`UPDATE accounts SET is_admin = TRUE WHERE user_id = $1`, c.UserID)
	return c
}

func sha256Hex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func blobPath(e *env, data []byte) string {
	h := sha256Hex(data)
	return filepath.Join(e.srv.Config.DataDir, "media", h[:2], h[2:4], h)
}

// Clean (the janitor) forgets expired created IDs, old URL previews and
// their images, and nothing else.
func TestClean(t *testing.T) {
	forEachEngine(t, previewsOn, func(t *testing.T, e *env) {
		o := newOrigin(t, pngBytes(t, 64, 48))
		og := e.preview(o.URL+"/page", 0).json(t)
		img, _ := og["og:image"].(string)
		pending, _ := e.create(e.alice)
		kept := e.upload(e.alice, []byte("kept"), "text/plain", "")
		old := time.Now().Add(-72 * time.Hour).UnixMilli()
		e.exec(`UPDATE media SET created_ts = $1, unused_expires_ts = $1 WHERE media_id <> $2`, old, kept[strings.LastIndexByte(kept, '/')+1:])
		e.exec(`UPDATE media_url_previews SET fetched_ts = $1`, old)

		e.srv.Media.Clean(context.Background(), time.Now())
		if n := e.count(`SELECT COUNT(*) FROM media_url_previews`); n != 0 {
			t.Errorf("%d old previews left", n)
		}
		for _, m := range []string{img, pending} {
			if n := e.count(`SELECT COUNT(*) FROM media WHERE media_id = $1`, m[strings.LastIndexByte(m, '/')+1:]); n != 0 {
				t.Errorf("%s not cleaned", m)
			}
		}
		if _, err := os.Stat(blobPath(e, pngBytes(t, 64, 48))); !os.IsNotExist(err) {
			t.Errorf("the preview image's content is still on disk: %v", err)
		}
		if r := e.get(e.alice, mediaV1+"/download/"+mediaPath(kept)); r.status != 200 {
			t.Errorf("an ordinary upload was cleaned: %d", r.status)
		}
	})
}

// Uploads and deletions of the same content, concurrently, keep the
// store consistent: content never disappears under a media item that
// refers to it (the references are counted under a row lock), and goes
// with the last one.
func TestConcurrentUploadAndDelete(t *testing.T) {
	forEachEngine(t, nil, func(t *testing.T, e *env) {
		admin := e.makeAdmin("root")
		data := bytes.Repeat([]byte("race"), 10_000)
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 8; i++ {
					r := e.uploadRaw(e.alice, data, "text/plain", "")
					if r.status != 200 {
						t.Errorf("upload = %d %s", r.status, r.body)
						return
					}
					mxc, _ := r.json(t)["content_uri"].(string)
					if d := e.get(e.alice, mediaV1+"/download/"+mediaPath(mxc)); d.status != 200 || !bytes.Equal(d.body, data) {
						t.Errorf("download right after upload = %d (%d bytes)", d.status, len(d.body))
					}
					if r := do(t, "DELETE", e.srv.URL+"/_synapse/admin/v1/media/"+mediaPath(mxc), admin.Token, nil, nil); r.status != 200 {
						t.Errorf("delete = %d %s", r.status, r.body)
					}
				}
			}()
		}
		wg.Wait()
		if n := e.count(`SELECT COUNT(*) FROM media_blobs`); n != 0 {
			t.Errorf("%d content rows left after every item was deleted", n)
		}
		if _, err := os.Stat(blobPath(e, data)); !os.IsNotExist(err) {
			t.Errorf("content on disk with no item referring to it: %v", err)
		}
		last := e.upload(e.alice, data, "text/plain", "")
		if d := e.get(e.alice, mediaV1+"/download/"+mediaPath(last)); d.status != 200 || !bytes.Equal(d.body, data) {
			t.Errorf("download after the race = %d", d.status)
		}
	})
}
