// Package modernc benchmarks modernc.org/sqlite (pure Go, C transpiled to Go).
package modernc

import (
	"database/sql"
	"os"
	"testing"

	"chappe.eu/chappe/bench/sqlitedriver/benchcore"
	_ "modernc.org/sqlite"
)

// DSN is the data source name for the "sqlite" driver. Every _pragma is run
// on each new pooled connection (busy_timeout first).
func DSN(path, sync string) string {
	return "file:" + path +
		"?_pragma=busy_timeout(5000)" +
		"&_pragma=journal_mode(WAL)" +
		"&_pragma=foreign_keys(1)" +
		"&_pragma=synchronous(" + sync + ")" +
		"&_txlock=immediate"
}

var drv = benchcore.Driver{
	Name: "modernc",
	Open: func(path, sync string) (*sql.DB, error) { return sql.Open("sqlite", DSN(path, sync)) },
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sqlitebench-modernc-")
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
func TestFTS5(t *testing.T) {
	if err := benchcore.CheckFTS5(t, drv); err != nil {
		t.Error(err)
	}
}

func BenchmarkSQLite(b *testing.B) { benchcore.RunAll(b, drv) }
