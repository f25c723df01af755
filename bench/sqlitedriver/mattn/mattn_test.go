// Package mattn benchmarks github.com/mattn/go-sqlite3 (cgo).
package mattn

import (
	"database/sql"
	"os"
	"testing"

	"chappe.eu/chappe/bench/sqlitedriver/benchcore"
	_ "github.com/mattn/go-sqlite3"
)

// DSN is the data source name for the "sqlite3" driver; the _xxx keys are
// applied on each new pooled connection.
func DSN(path, sync string) string {
	return "file:" + path +
		"?_busy_timeout=5000" +
		"&_journal_mode=WAL" +
		"&_foreign_keys=1" +
		"&_synchronous=" + sync +
		"&_txlock=immediate"
}

var drv = benchcore.Driver{
	Name: "mattn",
	Open: func(path, sync string) (*sql.DB, error) { return sql.Open("sqlite3", DSN(path, sync)) },
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sqlitebench-mattn-")
	if err != nil {
		panic(err)
	}
	benchcore.SetFixtureDir(dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func TestPragmas(t *testing.T)      { benchcore.CheckPragmas(t, drv) }
func TestForeignKeys(t *testing.T)  { benchcore.CheckForeignKeys(t, drv) }
func TestPlaceholders(t *testing.T) { benchcore.CheckPlaceholders(t, drv) }

// FTS5 is only compiled in with -tags sqlite_fts5 (or fts5); without the tag
// the check logs the failure but does not fail the test.
func TestFTS5(t *testing.T) {
	if err := benchcore.CheckFTS5(t, drv); err != nil {
		t.Logf("FTS5 not available in this build (build with -tags sqlite_fts5): %v", err)
	}
}

func BenchmarkSQLite(b *testing.B) { benchcore.RunAll(b, drv) }
