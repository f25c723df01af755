// Package ncruces benchmarks github.com/ncruces/go-sqlite3 through its
// database/sql driver (SQLite built to Wasm, translated to Go by wasm2go;
// no cgo).
package ncruces

import (
	"database/sql"
	"os"
	"testing"

	"chappe.eu/chappe/bench/sqlitedriver/benchcore"
	"github.com/ncruces/go-sqlite3/driver"
	"github.com/ncruces/go-sqlite3/ext/fts5"
)

// DSN is the data source name for the "sqlite3" driver; each _pragma is run
// on each new pooled connection, in order (busy_timeout first, as the
// driver's documentation asks).
func DSN(path, sync string) string {
	return "file:" + path +
		"?_pragma=busy_timeout(5000)" +
		"&_pragma=journal_mode(WAL)" +
		"&_pragma=foreign_keys(1)" +
		"&_pragma=synchronous(" + sync + ")" +
		"&_txlock=immediate"
}

var drv = benchcore.Driver{
	Name: "ncruces",
	Open: func(path, sync string) (*sql.DB, error) { return sql.Open("sqlite3", DSN(path, sync)) },
}

// drvFTS5 registers the FTS5 extension on every new connection, which is
// how this driver provides FTS5 (it is not in the core build).
var drvFTS5 = benchcore.Driver{
	Name: "ncruces+fts5",
	Open: func(path, sync string) (*sql.DB, error) { return driver.Open(DSN(path, sync), fts5.Register) },
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sqlitebench-ncruces-")
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
	t.Run("plain", func(t *testing.T) {
		if err := benchcore.CheckFTS5(t, drv); err != nil {
			t.Logf("FTS5 not available without ext/fts5: %v", err)
		}
	})
	t.Run("with-ext-fts5", func(t *testing.T) {
		if err := benchcore.CheckFTS5(t, drvFTS5); err != nil {
			t.Error(err)
		}
	})
}

func BenchmarkSQLite(b *testing.B) { benchcore.RunAll(b, drv) }
