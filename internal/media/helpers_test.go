package media_test

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"chappe.eu/chappe/internal/config"
	"chappe.eu/chappe/internal/testserver"
)

// forEachEngine runs f as a subtest on SQLite and, when it is there,
// PostgreSQL, with a server configured by change.
func forEachEngine(t *testing.T, change func(*config.Config), f func(t *testing.T, env *env)) {
	t.Helper()
	for _, engine := range testserver.Engines(t) {
		t.Run(engine, func(t *testing.T) {
			srv := testserver.Start(t, engine, change)
			f(t, &env{t: t, srv: srv, alice: srv.Register(t, "alice", "password1")})
		})
	}
}

type env struct {
	t     *testing.T
	srv   *testserver.Server
	alice *testserver.Client
}

// resp is a raw response.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r *resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response %d is not JSON: %q", r.status, r.body)
	}
	return m
}

func (r *resp) errcode(t *testing.T) string {
	s, _ := r.json(t)["errcode"].(string)
	return s
}

// do sends a request with a raw body as token's user ("" for none).
func do(t *testing.T, method, target, token string, body io.Reader, header map[string]string) *resp {
	t.Helper()
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, target, err)
	}
	return &resp{status: res.StatusCode, header: res.Header, body: data}
}

// upload uploads data as c and returns the mxc URI.
func (e *env) upload(c *testserver.Client, data []byte, contentType, filename string) string {
	e.t.Helper()
	r := e.uploadRaw(c, data, contentType, filename)
	if r.status != http.StatusOK {
		e.t.Fatalf("upload = %d %s; want 200", r.status, r.body)
	}
	uri, _ := r.json(e.t)["content_uri"].(string)
	if !strings.HasPrefix(uri, "mxc://chappe.test/") {
		e.t.Fatalf("content_uri = %q; want mxc://chappe.test/…", uri)
	}
	return uri
}

func (e *env) uploadRaw(c *testserver.Client, data []byte, contentType, filename string) *resp {
	e.t.Helper()
	u := e.srv.URL + "/_matrix/media/v3/upload"
	if filename != "" {
		u += "?filename=" + url.QueryEscape(filename)
	}
	h := map[string]string{}
	if contentType != "" {
		h["Content-Type"] = contentType
	}
	return do(e.t, "POST", u, c.Token, bytes.NewReader(data), h)
}

// get downloads path (after the server URL) as c (nil: anonymously).
func (e *env) get(c *testserver.Client, path string) *resp {
	e.t.Helper()
	tok := ""
	if c != nil {
		tok = c.Token
	}
	return do(e.t, "GET", e.srv.URL+path, tok, nil, nil)
}

// exec runs SQL on the server's database, for tests that must age or
// inspect rows.
func (e *env) exec(query string, args ...any) {
	e.t.Helper()
	db := e.sqlDB()
	defer db.Close()
	if _, err := db.Exec(query, args...); err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
}

// count runs a SELECT COUNT(*) on the server's database.
func (e *env) count(query string, args ...any) int {
	e.t.Helper()
	db := e.sqlDB()
	defer db.Close()
	var n int
	if err := db.QueryRow(query, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
	return n
}

func (e *env) sqlDB() *sql.DB {
	e.t.Helper()
	var db *sql.DB
	var err error
	if e.srv.Config.Database == "" {
		db, err = sql.Open("sqlite", "file:"+filepath.Join(e.srv.Config.DataDir, "chappe.db")+"?_pragma=busy_timeout(10000)")
	} else {
		db, err = sql.Open("pgx", e.srv.Config.Database)
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return db
}

// mediaPath turns mxc://server/id into "server/id".
func mediaPath(mxc string) string { return strings.TrimPrefix(mxc, "mxc://") }
