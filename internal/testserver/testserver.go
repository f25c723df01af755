// Package testserver starts real Chappe servers for tests: on a random
// loopback port, with a temporary data directory, on SQLite or on a fresh
// PostgreSQL database, and gives tests a small HTTP client for them.
package testserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"chappe.eu/chappe/internal/config"
	"chappe.eu/chappe/internal/server"
)

// PostgresAdminDSN is where tests create their databases; override it with
// CHAPPE_TEST_POSTGRES.
func PostgresAdminDSN() string {
	if dsn := os.Getenv("CHAPPE_TEST_POSTGRES"); dsn != "" {
		return dsn
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

var (
	pgOnce      sync.Once
	pgReachable bool
)

// Engines returns the storage engines to run a test on: SQLite always, and
// PostgreSQL when a server answers. Without one the test says so loudly,
// and under CI (CI=true) it fails instead, since CI must cover both.
func Engines(t testing.TB) []string {
	t.Helper()
	pgOnce.Do(func() {
		db, err := sql.Open("pgx", PostgresAdminDSN())
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			pgReachable = db.PingContext(ctx) == nil
			cancel()
			db.Close()
		}
	})
	if !pgReachable {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL is not reachable at %s, and CI=true requires it", PostgresAdminDSN())
		}
		t.Logf("WARNING: PostgreSQL is not reachable at %s: SKIPPING THE POSTGRESQL HALF OF THIS TEST", PostgresAdminDSN())
		return []string{"sqlite"}
	}
	return []string{"sqlite", "postgres"}
}

// NewDatabase returns the DSN of a fresh database for the engine ("" for
// SQLite, which lives in the data dir), dropped when the test ends.
func NewDatabase(t testing.TB, engine string) string {
	t.Helper()
	if engine == "sqlite" {
		return ""
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "chappe_test_" + hex.EncodeToString(b)
	admin, err := sql.Open("pgx", PostgresAdminDSN())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		admin.Close()
		t.Fatalf("creating test database: %v", err)
	}
	t.Cleanup(func() {
		admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		admin.Close()
	})
	dsn := PostgresAdminDSN()
	i := strings.LastIndex(dsn, "/")
	rest := ""
	if q := strings.IndexByte(dsn[i:], '?'); q >= 0 {
		rest = dsn[i+q:]
	}
	return dsn[:i+1] + name + rest
}

// Server is a running test server.
type Server struct {
	*server.Server
	Config config.Config
	URL    string
}

// Config returns the test configuration for an engine: a random port, a
// temporary data dir, open registration and no rate limits.
func Config(t testing.TB, engine string) config.Config {
	cfg := config.Default()
	cfg.ServerName = "chappe.test"
	cfg.Client.Addr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.Database = NewDatabase(t, engine)
	cfg.Registration.Mode = "open"
	cfg.RateLimit.Enabled = false
	cfg.Log.Level = "warn"
	return cfg
}

// Start starts a server on the engine; change, if not nil, adjusts the
// configuration first. The server stops when the test ends.
func Start(t testing.TB, engine string, change func(*config.Config)) *Server {
	t.Helper()
	cfg := Config(t, engine)
	if change != nil {
		change(&cfg)
	}
	return StartConfig(t, cfg)
}

// StartConfig starts a server with exactly cfg.
func StartConfig(t testing.TB, cfg config.Config) *Server {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config: %v", err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := server.New(context.Background(), cfg, log)
	if err != nil {
		t.Fatalf("starting server: %v", err)
	}
	if err := srv.Start(); err != nil {
		t.Fatalf("starting server: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return &Server{Server: srv, Config: cfg, URL: srv.ClientURL()}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Client talks to a server as one user (or anonymously).
type Client struct {
	t        testing.TB
	URL      string
	Token    string
	UserID   string
	DeviceID string
}

// Client returns an anonymous client.
func (s *Server) Client(t testing.TB) *Client { return &Client{t: t, URL: s.URL} }

// Response is a decoded JSON response.
type Response struct {
	Status int
	Header http.Header
	Body   map[string]any
	List   []any // when the response is a JSON array (GET /state)
	Raw    []byte
}

// Errcode is the response's errcode, if any.
func (r *Response) Errcode() string { s, _ := r.Body["errcode"].(string); return s }

// String returns a body field as a string.
func (r *Response) String(key string) string { s, _ := r.Body[key].(string); return s }

// Do sends a request; body is JSON-encoded unless it is []byte or a
// string (sent as is) or nil.
func (c *Client) Do(method, path string, body any) *Response {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, c.URL+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := &Response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if len(raw) > 0 && raw[0] == '[' {
			if err := json.Unmarshal(raw, &r.List); err != nil {
				c.t.Fatalf("%s %s: response is not JSON: %q", method, path, raw)
			}
		} else if err := json.Unmarshal(raw, &r.Body); err != nil {
			c.t.Fatalf("%s %s: response is not a JSON object: %q", method, path, raw)
		}
	}
	return r
}

// MustDo sends a request and fails the test unless the status is want.
func (c *Client) MustDo(method, path string, body any, want int) *Response {
	c.t.Helper()
	r := c.Do(method, path, body)
	if r.Status != want {
		c.t.Fatalf("%s %s = %d %s; want %d", method, path, r.Status, r.Raw, want)
	}
	return r
}

// Register registers a user with open registration (m.login.dummy) and
// returns a client logged in as them.
func (s *Server) Register(t testing.TB, username, password string) *Client {
	t.Helper()
	c := s.Client(t)
	r := c.Do("POST", "/_matrix/client/v3/register", map[string]any{"username": username, "password": password})
	if r.Status != http.StatusUnauthorized {
		t.Fatalf("register %s: first step = %d %s; want 401", username, r.Status, r.Raw)
	}
	r = c.MustDo("POST", "/_matrix/client/v3/register", map[string]any{
		"username": username, "password": password,
		"auth": map[string]any{"type": "m.login.dummy", "session": r.String("session")},
	}, http.StatusOK)
	c.Token, c.UserID, c.DeviceID = r.String("access_token"), r.String("user_id"), r.String("device_id")
	return c
}

// Login logs a user in with a password.
func (s *Server) Login(t testing.TB, username, password string) *Client {
	t.Helper()
	c := s.Client(t)
	r := c.MustDo("POST", "/_matrix/client/v3/login", map[string]any{
		"type": "m.login.password", "identifier": map[string]any{"type": "m.id.user", "user": username}, "password": password,
	}, http.StatusOK)
	c.Token, c.UserID, c.DeviceID = r.String("access_token"), r.String("user_id"), r.String("device_id")
	return c
}
