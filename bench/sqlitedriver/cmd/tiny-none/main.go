// Command tiny-none is the baseline for ../../sizes.sh: the same program
// shape (database/sql, fmt, os) with no SQLite driver linked in.
package main

import (
	"database/sql"
	"fmt"
	"os"
)

func main() {
	_, err := sql.Open("sqlite", "file:x.db")
	fmt.Fprintln(os.Stderr, "no driver:", err, sql.Drivers())
}
