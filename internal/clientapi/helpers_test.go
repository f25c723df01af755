package clientapi_test

import (
	"database/sql"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"chappe.eu/chappe/internal/config"
	"chappe.eu/chappe/internal/testserver"
)

// Paths used throughout the tests.
const (
	v3       = "/_matrix/client/v3"
	password = "correct horse battery"
)

// eachEngine runs f as a subtest on every storage engine. The test runs
// in parallel with the other top-level tests: each starts its own server
// on its own database, and most of the time goes to waiting on storage.
func eachEngine(t *testing.T, f func(t *testing.T, engine string)) {
	t.Helper()
	t.Parallel()
	for _, engine := range testserver.Engines(t) {
		t.Run(engine, func(t *testing.T) { f(t, engine) })
	}
}

// start is testserver.Start with a few more settings for these tests.
func start(t *testing.T, engine string, change func(*config.Config)) *testserver.Server {
	t.Helper()
	return testserver.Start(t, engine, change)
}

// wantErr fails the test unless r is an error response with the status
// and errcode given.
func wantErr(t *testing.T, what string, r *testserver.Response, status int, errcode string) {
	t.Helper()
	if r.Status != status || r.Errcode() != errcode {
		t.Fatalf("%s = %d %s; want %d %s", what, r.Status, r.Raw, status, errcode)
	}
}

// wantNo500 fails the test if the server answered with a server error.
func wantNo500(t *testing.T, what string, r *testserver.Response) {
	t.Helper()
	if r.Status >= 500 {
		t.Fatalf("%s = %d %s; want a 4xx, never a server error", what, r.Status, r.Raw)
	}
}

// as returns a copy of c that sends token instead of c's own.
func as(c *testserver.Client, token string) *testserver.Client {
	cp := *c
	cp.Token = token
	return &cp
}

// passwordAuth is a UIA m.login.password auth dict.
func passwordAuth(session, user, pw string) map[string]any {
	return map[string]any{
		"type":       "m.login.password",
		"session":    session,
		"identifier": map[string]any{"type": "m.id.user", "user": user},
		"password":   pw,
	}
}

// withUIA sends body to path twice, as the spec's "User-Interactive
// Authentication API" asks: first without auth (expecting the 401
// challenge), then with an m.login.password stage for c's user. It
// returns the final response.
func withUIA(t *testing.T, c *testserver.Client, method, path string, body map[string]any, pw string) *testserver.Response {
	t.Helper()
	r := c.Do(method, path, body)
	if r.Status != http.StatusUnauthorized || r.String("session") == "" {
		t.Fatalf("%s %s without auth = %d %s; want a 401 UIA challenge", method, path, r.Status, r.Raw)
	}
	next := map[string]any{}
	for k, v := range body {
		next[k] = v
	}
	next["auth"] = passwordAuth(r.String("session"), c.UserID, pw)
	return c.Do(method, path, next)
}

// execSQL runs a statement directly against the server's database. It is
// the tests' way to make time pass (expire tokens) without a test-only
// hook in the server: the database is the server's only state.
func execSQL(t *testing.T, srv *testserver.Server, query string, args ...any) {
	t.Helper()
	var db *sql.DB
	var err error
	if srv.Config.Database == "" {
		db, err = sql.Open("sqlite", "file:"+filepath.Join(srv.Config.DataDir, "chappe.db")+"?_pragma=busy_timeout(10000)")
	} else {
		db, err = sql.Open("pgx", srv.Config.Database)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	srv.DB.ForgetChanges() // the server did not see this write
}

// bodyList returns body[key] as a list of strings.
func bodyList(t *testing.T, r *testserver.Response, key string) []string {
	t.Helper()
	raw, ok := r.Body[key].([]any)
	if !ok {
		t.Fatalf("%q is not a list in %s", key, r.Raw)
	}
	out := make([]string, len(raw))
	for i, v := range raw {
		out[i], _ = v.(string)
	}
	return out
}

// flowsOf returns the UIA flows of a 401 challenge as "a,b" strings.
func flowsOf(t *testing.T, r *testserver.Response) []string {
	t.Helper()
	raw, ok := r.Body["flows"].([]any)
	if !ok {
		t.Fatalf("no flows in %s", r.Raw)
	}
	var out []string
	for _, f := range raw {
		stages, _ := f.(map[string]any)["stages"].([]any)
		var s []string
		for _, st := range stages {
			s = append(s, st.(string))
		}
		out = append(out, strings.Join(s, ","))
	}
	return out
}
