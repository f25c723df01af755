package search

import (
	"strings"
	"unicode/utf8"
)

// The user directory matches each word of a search term as a prefix of a
// word of the user's ID localpart or display name, case- and
// accent-insensitively: "ali sm" finds "@alice.smith:example.org" and
// "Alice Smith". A term that starts with "@" matches as a prefix of the
// whole user ID instead, so that a pasted user ID finds its user.

const (
	// maxUserTerms bounds the index rows of one user.
	maxUserTerms = 64
	// maxDirectoryWords bounds the words of a directory search.
	maxDirectoryWords = 8
	// maxUserIDBytes is the spec's limit on user IDs.
	maxUserIDBytes = 255
)

// UserTerms returns the words under which a user is found: the tokens of
// the localpart and of the display name, and the whole user ID in lower
// case.
func UserTerms(userID, displayName string) []string {
	localpart := strings.TrimPrefix(userID, "@")
	if i := strings.IndexByte(localpart, ':'); i >= 0 {
		localpart = localpart[:i]
	}
	terms := append(Tokens(localpart), Tokens(displayName)...)
	if id := cleanID(userID); id != "" {
		terms = append(terms, id)
	}
	terms = SortedUnique(terms)
	if len(terms) > maxUserTerms {
		terms = terms[:maxUserTerms]
	}
	return terms
}

// DirectoryPrefixes returns the prefixes a directory search term looks up,
// each of which must match one of a user's terms.
func DirectoryPrefixes(term string) []string {
	term = strings.TrimSpace(term)
	if strings.HasPrefix(term, "@") {
		if id := cleanID(term); id != "@" && id != "" {
			return []string{id}
		}
		return nil
	}
	toks := SortedUnique(Tokens(term))
	if len(toks) > maxDirectoryWords {
		toks = toks[:maxDirectoryWords]
	}
	return toks
}

// cleanID lower-cases a user ID for the index, without the characters
// PostgreSQL cannot store (NUL, invalid UTF-8), within the spec's length.
func cleanID(id string) string {
	id = strings.ToLower(strings.ToValidUTF8(strings.ReplaceAll(id, "\x00", ""), ""))
	if len(id) > maxUserIDBytes {
		id = truncateAt(id, maxUserIDBytes)
	}
	return id
}

func truncateAt(s string, n int) string {
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// PrefixEnd returns the least string greater than every string that has
// prefix p, for the range p <= term < PrefixEnd(p) on an index in
// code-point (byte) order: p with its last rune incremented. It returns
// "" when no such string exists (p is empty or all U+10FFFF).
func PrefixEnd(p string) string {
	for p != "" {
		r, size := utf8.DecodeLastRuneInString(p)
		p = p[:len(p)-size]
		if r == utf8.RuneError && size <= 1 {
			continue // not valid UTF-8: drop the byte and carry
		}
		switch next := r + 1; {
		case next > utf8.MaxRune:
			continue // carry into the rune before
		case next >= 0xD800 && next <= 0xDFFF:
			return p + string(rune(0xE000)) // surrogates are not runes
		default:
			return p + string(next)
		}
	}
	return ""
}
