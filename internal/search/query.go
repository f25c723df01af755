package search

import (
	"errors"
	"math"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxItems bounds the words and phrases of one search term, and
// maxTokens their tokens: each becomes a lookup in the full-text index.
const (
	MaxItems  = 32
	maxTokens = 64
)

// ErrTooManyItems is returned for a search term of more than MaxItems
// words and phrases, or more than maxTokens tokens.
var ErrTooManyItems = errors.New("search: too many words in the search term")

// Query is a parsed search term. Its syntax is the one Synapse accepts:
//
//	martians men      both words (every word must match)
//	"martian men"     the words next to each other, in this order
//	martians or men   either (OR binds looser than the implicit AND)
//	martians -men     martians, but not men
//
// Every word, and the last word of a phrase, matches as a prefix, unless
// it is a single letter or digit (which would match most messages): "a"
// matches the word "a" only. A word that folds into several tokens
// ("e-mail", "l'été") is a phrase.
type Query struct {
	term  string
	items []item
}

type item struct {
	tokens []string // a phrase when more than one
	prefix bool     // the last token matches as a prefix
	not    bool
	or     bool // joined to the positive item before it with OR
}

// minPrefixBytes is the shortest token that matches as a prefix: one
// ASCII character is too short, one CJK character (3 bytes) is not.
const minPrefixBytes = 2

// Parse parses a search term. A term without any word yields a query that
// matches nothing (Empty reports it).
func Parse(term string) (*Query, error) {
	q := &Query{term: term}
	pendingOr := false
	add := func(text string, not bool) {
		toks := Tokens(text)
		if len(toks) == 0 {
			return
		}
		it := item{tokens: toks, not: not, prefix: len(toks[len(toks)-1]) >= minPrefixBytes}
		if !not {
			it.or = pendingOr && q.hasPositive()
			pendingOr = false
		}
		q.items = append(q.items, it)
	}
	rest := term
	for rest != "" {
		r, size := utf8.DecodeRuneInString(rest)
		if unicode.IsSpace(r) {
			rest = rest[size:]
			continue
		}
		not := false
		if r == '-' {
			not, rest = true, rest[1:]
		}
		if strings.HasPrefix(rest, `"`) {
			phrase, after, _ := strings.Cut(rest[1:], `"`)
			add(phrase, not)
			rest = after
			continue
		}
		end := strings.IndexFunc(rest, unicode.IsSpace)
		if end < 0 {
			end = len(rest)
		}
		word := rest[:end]
		rest = rest[end:]
		switch {
		case !not && strings.EqualFold(word, "or"):
			pendingOr = true
		case !not && strings.EqualFold(word, "and"):
			// AND is the default.
		default:
			add(word, not)
		}
	}
	tokens := 0
	for _, it := range q.items {
		tokens += len(it.tokens)
	}
	if len(q.items) > MaxItems || tokens > maxTokens {
		return nil, ErrTooManyItems
	}
	return q, nil
}

func (q *Query) hasPositive() bool {
	for _, it := range q.items {
		if !it.not {
			return true
		}
	}
	return false
}

// Term returns the search term the query was parsed from.
func (q *Query) Term() string { return q.term }

// Empty reports whether the query can match nothing: it has no word that
// results must contain.
func (q *Query) Empty() bool { return !q.hasPositive() }

// FTS5 returns the query as an SQLite FTS5 MATCH expression. Tokens hold
// only letters and digits, so quoting them is enough to keep FTS5's
// syntax out of the user's hands. Empty queries return "".
func (q *Query) FTS5() string {
	return q.render(func(it item) string {
		s := `"` + strings.Join(it.tokens, " ") + `"`
		if it.prefix {
			s += "*"
		}
		return s
	}, " AND ", " OR ", " NOT ")
}

// TSQuery returns the query for PostgreSQL's to_tsquery('simple', ...).
// Empty queries return "".
func (q *Query) TSQuery() string {
	return q.render(func(it item) string {
		quoted := make([]string, len(it.tokens))
		for i, t := range it.tokens {
			quoted[i] = "'" + t + "'"
		}
		s := strings.Join(quoted, " <-> ")
		if it.prefix {
			s += ":*"
		}
		return s
	}, " & ", " | ", " & !")
}

// render writes (p1 AND p2 OR p3) NOT n1 NOT n2: the negated items apply
// to the whole positive expression, on both engines alike.
func (q *Query) render(operand func(item) string, and, or, not string) string {
	if q.Empty() {
		return ""
	}
	var b strings.Builder
	b.WriteString("(")
	first := true
	for _, it := range q.items {
		if it.not {
			continue
		}
		if !first {
			if it.or {
				b.WriteString(or)
			} else {
				b.WriteString(and)
			}
		}
		first = false
		b.WriteString(operand(it))
	}
	b.WriteString(")")
	for _, it := range q.items {
		if it.not {
			b.WriteString(not)
			b.WriteString("(" + operand(it) + ")")
		}
	}
	return b.String()
}

// Rank scores normalised text (as Normalize returns it) against the
// query: higher is more relevant. It depends on nothing but the text and
// the query, so a result's rank never changes while a client pages
// through results (FTS5's bm25 depends on the whole index, which changes
// with every message). Each positive item adds 1 + ln(occurrences); long
// texts are damped so that a word in a short message outranks the same
// word lost in a long one.
func (q *Query) Rank(text string) float64 {
	toks := strings.Fields(text)
	score := 0.0
	for _, it := range q.items {
		if it.not {
			continue
		}
		if n := occurrences(toks, it.tokens, it.prefix); n > 0 {
			score += 1 + math.Log(float64(n))
		}
	}
	return score / (1 + math.Log1p(float64(len(toks))/10))
}

// occurrences counts where phrase occurs in toks, its last token as a
// prefix if prefix is set.
func occurrences(toks, phrase []string, prefix bool) int {
	n := 0
	last := len(phrase) - 1
outer:
	for i := 0; i+last < len(toks); i++ {
		for j := 0; j < last; j++ {
			if toks[i+j] != phrase[j] {
				continue outer
			}
		}
		if t := toks[i+last]; t == phrase[last] || prefix && strings.HasPrefix(t, phrase[last]) {
			n++
		}
	}
	return n
}

// Highlights returns the words of raw text (as the client shows it) that
// the query's positive items match, as written there, for the response's
// highlights: a client highlights "Réunion" when "reunion" was searched.
func (q *Query) Highlights(text string) []string {
	var out []string
	seen := map[string]bool{}
	words(text, func(w string) {
		if seen[w] {
			return
		}
		for _, tok := range fold(w, nil) {
			if q.matchesToken(tok) {
				seen[w] = true
				out = append(out, w)
				return
			}
		}
	})
	return out
}

// matchesToken reports whether a token is one the positive items match: a
// prefix match of their last token, or any other token of a phrase.
func (q *Query) matchesToken(tok string) bool {
	for _, it := range q.items {
		if it.not {
			continue
		}
		last := len(it.tokens) - 1
		if tok == it.tokens[last] || it.prefix && strings.HasPrefix(tok, it.tokens[last]) {
			return true
		}
		for _, t := range it.tokens[:last] {
			if tok == t {
				return true
			}
		}
	}
	return false
}

// SortedUnique sorts words and removes duplicates.
func SortedUnique(words []string) []string {
	sort.Strings(words)
	out := words[:0]
	for i, w := range words {
		if i == 0 || w != words[i-1] {
			out = append(out, w)
		}
	}
	return out
}
