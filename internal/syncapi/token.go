package syncapi

import (
	"strconv"
	"strings"

	"chappe.eu/chappe/internal/matrix"
)

// Token is a /sync since/next_batch token: the position in each stream the
// client has seen. Its text is "s<events>_<typing>"; the first part alone
// is also a /messages pagination token (rooms.ParseStreamToken).
//
// Events, receipts, account data, to-device messages and device lists all
// take positions from the one global stream (store.nextPosTx), so Pos
// covers them. Typing notifications are not stored and have a counter of
// their own in this process.
type Token struct {
	Pos    int64
	Typing int64
	// ToDevice, when not 0, is the position up to which the device's
	// to-device messages are delivered, behind Pos: one response carries
	// at most a hundred of them (todevice.go), so a backlog takes several
	// syncs. It is written as a third part only when set.
	ToDevice int64
}

func (t Token) String() string {
	s := "s" + strconv.FormatInt(t.Pos, 10) + "_" + strconv.FormatInt(t.Typing, 10)
	if t.ToDevice != 0 {
		s += "_" + strconv.FormatInt(t.ToDevice, 10)
	}
	return s
}

// ParseToken reads a token; older forms with fewer parts read as zeros.
func ParseToken(s string) (Token, error) {
	bad := matrix.InvalidParam("Invalid since token")
	rest, ok := strings.CutPrefix(s, "s")
	if !ok || len(s) > 64 {
		return Token{}, bad
	}
	var t Token
	parts := strings.Split(rest, "_")
	fields := []*int64{&t.Pos, &t.Typing, &t.ToDevice}
	if len(parts) > len(fields) {
		return Token{}, bad
	}
	for i, p := range parts {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil || n < 0 {
			return Token{}, bad
		}
		*fields[i] = n
	}
	return t, nil
}
