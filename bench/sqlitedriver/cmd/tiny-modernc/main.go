// Command tiny-modernc is the tiny program used to measure build time and binary
// size of one SQLite driver (see ../../sizes.sh).
package main

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite"
)

func main() {
	dir, err := os.MkdirTemp("", "tiny-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	dsn := "file:" + filepath.Join(dir, "t.db") + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer db.Close()
	var version string
	if _, err := db.Exec("CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB)"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if _, err := db.Exec("INSERT INTO t VALUES (?, ?)", "k", []byte("v")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := db.QueryRow("SELECT sqlite_version()").Scan(&version); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var fts = "no"
	if _, err := db.Exec("CREATE VIRTUAL TABLE f USING fts5(body)"); err == nil {
		fts = "yes"
	}
	fmt.Printf("sqlite %s fts5=%s\n", version, fts)
}
