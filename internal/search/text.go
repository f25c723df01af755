// Package search holds the text handling of Chappe's server-side search
// (spec: "Server Side Search") and user directory: which text of which
// events is searchable, how text becomes index tokens, and how a search
// term becomes a query for either storage engine. It does no I/O; the
// store indexes and queries with it.
//
// # One tokenisation for both engines and every language
//
// State deployments write in several languages, often in one room. A
// language's stemmer (PostgreSQL's 'english', as Synapse uses) mangles
// the others: it drops English stop words such as "a" (French "has"),
// and stems French or German words by English rules. So Chappe stems
// nothing. Instead:
//
//   - text is cut into words (runs of letters, digits and combining
//     marks), compatibility-decomposed (NFKD: "ﬁ" is "fi", "Ａ" is "A"),
//     stripped of diacritics ("Élysée" is "elysee") and lower-cased, here
//     in Go, so SQLite and PostgreSQL index exactly the same tokens;
//   - PostgreSQL indexes them with the 'simple' configuration (no stop
//     words, no stemming), SQLite with FTS5's unicode61 tokenizer;
//   - every query word matches as a prefix ("rapport" finds "rapports",
//     "meet" finds "meeting"), which recovers most of what a stemmer
//     gives, in any language. Synapse also matches query words as
//     prefixes.
//
// Scripts written without spaces (Chinese, Japanese, Thai) are indexed
// one run of characters per token, so a search finds a run only by its
// beginning; a segmenter for them is left for when it is needed.
package search

import (
	"encoding/json"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// maxTokenBytes bounds one token. Longer words (hashes, base64, URLs
// without separators) are cut: PostgreSQL refuses to index words of 2 KiB
// and more, and a prefix of 100 bytes still finds the word.
const maxTokenBytes = 100

// Searchable keys and the event types that carry them (spec: "room_events").
var keyTypes = map[string]string{
	"content.body":  "m.room.message",
	"content.name":  "m.room.name",
	"content.topic": "m.room.topic",
}

// Keys are the keys a search may name, as the spec lists them.
var Keys = []string{"content.body", "content.name", "content.topic"}

// TypeOfKey returns the event type whose key it is, or false for a key
// that cannot be searched.
func TypeOfKey(key string) (string, bool) {
	t, ok := keyTypes[key]
	return t, ok
}

// Text returns the searchable text of an event: content.body of an
// m.room.message, content.name of m.room.name, and of m.room.topic both
// content.topic and the text/plain representations in content["m.topic"]
// (spec: "room_events"). Other events, and events without such text,
// return false. NUL characters are dropped, as PostgreSQL cannot store
// them.
func Text(typ string, stateKey *string, content json.RawMessage) (string, bool) {
	var text string
	switch {
	case typ == "m.room.message" && stateKey == nil:
		var c struct {
			Body any `json:"body"`
		}
		if json.Unmarshal(content, &c) != nil {
			return "", false
		}
		text, _ = c.Body.(string)
	case typ == "m.room.name" && stateKey != nil && *stateKey == "":
		var c struct {
			Name any `json:"name"`
		}
		if json.Unmarshal(content, &c) != nil {
			return "", false
		}
		text, _ = c.Name.(string)
	case typ == "m.room.topic" && stateKey != nil && *stateKey == "":
		text = topicText(content)
	default:
		return "", false
	}
	text = strings.ReplaceAll(text, "\x00", "")
	if strings.TrimSpace(text) == "" {
		return "", false
	}
	return text, true
}

func topicText(content json.RawMessage) string {
	var c struct {
		Topic  any `json:"topic"`
		MTopic any `json:"m.topic"`
	}
	if json.Unmarshal(content, &c) != nil {
		return ""
	}
	topic, _ := c.Topic.(string)
	parts := []string{topic}
	// m.topic is a list of representations, or (since v1.15) an object
	// holding one under m.text. Only text/plain (the default) is text.
	reps, _ := c.MTopic.([]any)
	if obj, ok := c.MTopic.(map[string]any); ok {
		reps, _ = obj["m.text"].([]any)
	}
	for _, r := range reps {
		rep, _ := r.(map[string]any)
		body, _ := rep["body"].(string)
		mime, hasMime := rep["mimetype"].(string)
		if body != "" && body != topic && (!hasMime || mime == "text/plain") {
			parts = append(parts, body)
		}
	}
	return strings.Join(parts, "\n")
}

// IndexText returns the text to index for an event, normalised (see
// Normalize), or false when the event has nothing searchable.
func IndexText(typ string, stateKey *string, content json.RawMessage) (string, bool) {
	text, ok := Text(typ, stateKey, content)
	if !ok {
		return "", false
	}
	n := Normalize(text)
	return n, n != ""
}

// Normalize returns the tokens of s separated by single spaces: the form
// in which text is indexed on both engines.
func Normalize(s string) string { return strings.Join(Tokens(s), " ") }

// Tokens returns the search tokens of s (see the package documentation).
func Tokens(s string) []string {
	var out []string
	words(s, func(w string) { out = fold(w, out) })
	return out
}

// isWordRune reports whether r belongs inside a word.
func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.Is(unicode.Mn, r)
}

// words calls f with each word of s: each maximal run of letters, numbers
// and combining marks. Invalid UTF-8 separates words.
func words(s string, f func(word string)) {
	start := -1
	for i, r := range s {
		if r != utf8.RuneError && isWordRune(r) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			f(s[start:i])
			start = -1
		}
	}
	if start >= 0 {
		f(s[start:])
	}
}

// fold appends the tokens of one word to out: the word decomposed (NFKD),
// without combining marks, lower-cased, and cut again where decomposition
// produced separators (an Arabic ligature decomposes into several words).
func fold(word string, out []string) []string {
	if isASCIIAlnum(word) {
		return append(out, truncate(strings.ToLower(word)))
	}
	var b strings.Builder
	flush := func() {
		if b.Len() > 0 {
			out = append(out, truncate(b.String()))
			b.Reset()
		}
	}
	for _, r := range norm.NFKD.String(word) {
		switch {
		case unicode.Is(unicode.Mn, r):
			// A diacritic: dropped.
		case unicode.IsLetter(r) || unicode.IsNumber(r):
			b.WriteRune(unicode.ToLower(r))
		default:
			flush()
		}
	}
	flush()
	return out
}

func isASCIIAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// truncate cuts a token to maxTokenBytes on a rune boundary.
func truncate(tok string) string {
	if len(tok) <= maxTokenBytes {
		return tok
	}
	i := maxTokenBytes
	for i > 0 && !utf8.RuneStart(tok[i]) {
		i--
	}
	return tok[:i]
}
