package rooms

import (
	"strconv"
	"strings"

	"chappe.eu/chappe/internal/matrix"
)

// Stream tokens. A token P stands between the event at stream position P
// and the one after it, so paginating from a token neither skips nor
// repeats events. /sync's next_batch ("s<P>", with more streams after '_'
// as they come) is also a valid /messages token, as the spec requires.

// StreamToken formats a stream position as a token.
func StreamToken(pos int64) string { return "s" + strconv.FormatInt(pos, 10) }

// ParseStreamToken reads the event stream position of a token.
func ParseStreamToken(tok string) (int64, error) {
	s, ok := strings.CutPrefix(tok, "s")
	if !ok {
		return 0, matrix.InvalidParam("Invalid token")
	}
	if i := strings.IndexByte(s, '_'); i >= 0 {
		s = s[:i]
	}
	pos, err := strconv.ParseInt(s, 10, 64)
	if err != nil || pos < 0 {
		return 0, matrix.InvalidParam("Invalid token")
	}
	return pos, nil
}
