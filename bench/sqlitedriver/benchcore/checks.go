package benchcore

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// CheckPragmas verifies that every pooled connection comes up with the
// pragmas requested through the DSN. It holds 4 connections at once so
// that the pool really opens 4 distinct connections.
func CheckPragmas(t *testing.T, d Driver) {
	for _, sync := range []string{"NORMAL", "FULL"} {
		t.Run("sync="+sync, func(t *testing.T) {
			db, err := d.Open(filepath.Join(t.TempDir(), "p.db"), sync)
			must(t, err)
			defer db.Close()
			db.SetMaxOpenConns(4)
			ctx := context.Background()
			var conns []*sql.Conn
			for range 4 {
				c, err := db.Conn(ctx)
				must(t, err)
				conns = append(conns, c)
			}
			wantSync := map[string]int{"NORMAL": 1, "FULL": 2}[sync]
			for i, c := range conns {
				var jm string
				var bt, fk, sy int
				must(t, c.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&jm))
				must(t, c.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&bt))
				must(t, c.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk))
				must(t, c.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sy))
				t.Logf("conn %d: journal_mode=%s busy_timeout=%d foreign_keys=%d synchronous=%d", i, jm, bt, fk, sy)
				if strings.ToLower(jm) != "wal" || bt != 5000 || fk != 1 || sy != wantSync {
					t.Errorf("conn %d: pragmas not applied: journal_mode=%s busy_timeout=%d foreign_keys=%d synchronous=%d (want wal 5000 1 %d)",
						i, jm, bt, fk, sy, wantSync)
				}
			}
			for _, c := range conns {
				c.Close()
			}
		})
	}
}

// CheckForeignKeys verifies that foreign keys are enforced.
func CheckForeignKeys(t *testing.T, d Driver) {
	db, err := d.Open(filepath.Join(t.TempDir(), "fk.db"), "NORMAL")
	must(t, err)
	defer db.Close()
	createSchema(t, db)
	_, err = db.Exec(insertEventSQL, "$x:chappe.eu", "!nosuchroom:chappe.eu", EventJSON)
	if err == nil {
		t.Fatal("insert with an unknown room succeeded: foreign keys not enforced")
	}
	t.Logf("FK violation rejected: %v", err)
}

// CheckPlaceholders reports which placeholder styles bind correctly. It
// fails only if "?" itself does not work; the rest is informational
// (logged as OK / WRONG / ERROR) and summarised in the README.
func CheckPlaceholders(t *testing.T, d Driver) {
	db, err := d.Open(filepath.Join(t.TempDir(), "ph.db"), "NORMAL")
	must(t, err)
	defer db.Close()
	type tc struct {
		name  string
		query string
		args  []any
		want  string
	}
	cases := []tc{
		{"? positional", `SELECT ? || '|' || ? || '|' || ?`, []any{"a", "b", "c"}, "a|b|c"},
		{"?NNN numbered, out of order + reused", `SELECT ?2 || '|' || ?1 || '|' || ?2`, []any{"a", "b"}, "b|a|b"},
		{"$N in order", `SELECT $1 || '|' || $2`, []any{"a", "b"}, "a|b"},
		{"$N out of order + reused", `SELECT $2 || '|' || $1 || '|' || $2`, []any{"a", "b"}, "b|a|b"},
		{"$N first use is $3", `SELECT $3 || '|' || $1 || '|' || $2`, []any{"a", "b", "c"}, "c|a|b"},
		{":name via sql.Named", `SELECT :x || '|' || :y`, []any{sql.Named("x", "a"), sql.Named("y", "b")}, "a|b"},
		{"@name via sql.Named", `SELECT @x || '|' || @y`, []any{sql.Named("x", "a"), sql.Named("y", "b")}, "a|b"},
		{"$name via sql.Named", `SELECT $x || '|' || $y`, []any{sql.Named("x", "a"), sql.Named("y", "b")}, "a|b"},
	}
	for _, c := range cases {
		var got string
		err := db.QueryRow(c.query, c.args...).Scan(&got)
		switch {
		case err != nil:
			t.Logf("PLACEHOLDER %-40s ERROR: %v", c.name, err)
		case got != c.want:
			t.Logf("PLACEHOLDER %-40s WRONG: got %q want %q", c.name, got, c.want)
		default:
			t.Logf("PLACEHOLDER %-40s OK", c.name)
		}
		if c.name == "? positional" && (err != nil || got != c.want) {
			t.Errorf("? placeholders broken")
		}
	}
	// A PostgreSQL-style statement as the homeserver would write it, with
	// $N used out of order in an UPDATE ... WHERE.
	_, err = db.Exec(`CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT)`)
	must(t, err)
	_, err = db.Exec(`INSERT INTO kv (k, v) VALUES ($1, $2)`, "key", "old")
	must(t, err)
	res, err := db.Exec(`UPDATE kv SET v = $2 WHERE k = $1`, "key", "new")
	if err != nil {
		t.Logf("PLACEHOLDER %-40s ERROR: %v", "UPDATE SET v=$2 WHERE k=$1", err)
		return
	}
	n, _ := res.RowsAffected()
	var v string
	must(t, db.QueryRow(`SELECT v FROM kv WHERE k = $1`, "key").Scan(&v))
	if n == 1 && v == "new" {
		t.Logf("PLACEHOLDER %-40s OK", "UPDATE SET v=$2 WHERE k=$1")
	} else {
		t.Logf("PLACEHOLDER %-40s WRONG: rows=%d v=%q", "UPDATE SET v=$2 WHERE k=$1", n, v)
	}
}

// CheckFTS5 reports whether FTS5 is usable, and the SQLite version.
// It returns an error (not a test failure) when FTS5 is missing, so the
// caller decides whether that is fatal.
func CheckFTS5(t *testing.T, d Driver) error {
	db, err := d.Open(filepath.Join(t.TempDir(), "fts.db"), "NORMAL")
	must(t, err)
	defer db.Close()
	var version string
	must(t, db.QueryRow(`SELECT sqlite_version()`).Scan(&version))
	var opts []string
	rows, err := db.Query(`PRAGMA compile_options`)
	must(t, err)
	for rows.Next() {
		var o string
		must(t, rows.Scan(&o))
		opts = append(opts, o)
	}
	rows.Close()
	t.Logf("sqlite_version=%s compile_options=%s", version, strings.Join(opts, " "))

	if _, err := db.Exec(`CREATE VIRTUAL TABLE search USING fts5(body)`); err != nil {
		t.Logf("FTS5 MISSING: %v", err)
		return fmt.Errorf("fts5: %w", err)
	}
	for _, s := range []string{"hello matrix world", "chappe homeserver", "the matrix has you"} {
		_, err := db.Exec(`INSERT INTO search (body) VALUES (?)`, s)
		must(t, err)
	}
	var n int
	must(t, db.QueryRow(`SELECT count(*) FROM search WHERE search MATCH ?`, "matrix").Scan(&n))
	if n != 2 {
		t.Errorf("fts5 MATCH returned %d rows, want 2", n)
	}
	var best string
	must(t, db.QueryRow(`SELECT body FROM search WHERE search MATCH ? ORDER BY rank LIMIT 1`, "homeserver").Scan(&best))
	t.Logf("FTS5 OK (MATCH matrix -> %d rows, rank top for homeserver: %q)", n, best)
	return nil
}
