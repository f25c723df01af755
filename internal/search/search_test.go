package search

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

var tokensTests = []struct {
	in   string
	want []string
}{
	{"", nil},
	{"Hello, World!", []string{"hello", "world"}},
	{"Réunion à l'Élysée", []string{"reunion", "a", "l", "elysee"}},
	{"Straße über Ærø", []string{"straße", "uber", "ærø"}}, // no decomposition for ß, æ, ø
	{"e-mail 3.14 x_y", []string{"e", "mail", "3", "14", "x", "y"}},
	{"ﬁnance ＡＢＣ", []string{"finance", "abc"}}, // NFKD
	{"İstanbul", []string{"istanbul"}},
	{"東京都 に", []string{"東京都", "に"}},
	{"emoji 🎉 party", []string{"emoji", "party"}},
	{"a\x00b", []string{"a", "b"}},
	{"bad\xffutf8", []string{"bad", "utf8"}},
	{"Καλημέρα κόσμε", []string{"καλημερα", "κοσμε"}},
	{strings.Repeat("x", 150), []string{strings.Repeat("x", maxTokenBytes)}},
	{strings.Repeat("é", 80), []string{strings.Repeat("e", 80)}},
}

func TestTokens(t *testing.T) {
	for _, tt := range tokensTests {
		if got := Tokens(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Tokens(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func ptr(s string) *string { return &s }

var textTests = []struct {
	typ      string
	stateKey *string
	content  string
	want     string
	ok       bool
}{
	{"m.room.message", nil, `{"msgtype":"m.text","body":"hello"}`, "hello", true},
	{"m.room.message", ptr(""), `{"body":"state message"}`, "", false},
	{"m.room.message", nil, `{"body":42}`, "", false},
	{"m.room.message", nil, `{"body":"   "}`, "", false},
	{"m.room.message", nil, `{"body":"nul\u0000byte"}`, "nulbyte", true},
	{"m.room.name", ptr(""), `{"name":"Ops room"}`, "Ops room", true},
	{"m.room.name", ptr("x"), `{"name":"Ops room"}`, "", false},
	{"m.room.name", nil, `{"name":"Ops room"}`, "", false},
	{"m.room.topic", ptr(""), `{"topic":"plain"}`, "plain", true},
	{"m.room.topic", ptr(""), `{"topic":"plain","m.topic":{"m.text":[{"mimetype":"text/html","body":"<b>html</b>"},{"body":"other"}]}}`, "plain\nother", true},
	{"m.room.topic", ptr(""), `{"topic":"same","m.topic":{"m.text":[{"body":"same"}]}}`, "same", true},
	{"m.room.topic", ptr(""), `{"m.topic":[{"mimetype":"text/plain","body":"old form"}]}`, "\nold form", true},
	{"m.room.encrypted", nil, `{"ciphertext":"abc"}`, "", false},
	{"m.room.message", nil, `not json`, "", false},
}

func TestText(t *testing.T) {
	for _, tt := range textTests {
		got, ok := Text(tt.typ, tt.stateKey, json.RawMessage(tt.content))
		if got != tt.want || ok != tt.ok {
			t.Errorf("Text(%s, %s) = %q, %v; want %q, %v", tt.typ, tt.content, got, ok, tt.want, tt.ok)
		}
	}
}

var queryTests = []struct {
	term    string
	fts5    string
	tsquery string
}{
	{"", "", ""},
	{"  !!! ", "", ""},
	{"-only", "", ""},
	{"martians", `("martians"*)`, `('martians':*)`},
	{"Martians MEN", `("martians"* AND "men"*)`, `('martians':* & 'men':*)`},
	{"martians or men", `("martians"* OR "men"*)`, `('martians':* | 'men':*)`},
	{"or martians", `("martians"*)`, `('martians':*)`},
	{"a and b", `("a" AND "b")`, `('a' & 'b')`},
	{"ab 東", `("ab"* AND "東"*)`, `('ab':* & '東':*)`},
	{"martians -men", `("martians"*) NOT ("men"*)`, `('martians':*) & !('men':*)`},
	{`"martian men" land`, `("martian men"* AND "land"*)`, `('martian' <-> 'men':* & 'land':*)`},
	{`-"bad news" good`, `("good"*) NOT ("bad news"*)`, `('good':*) & !('bad' <-> 'news':*)`},
	{`e-mail`, `("e mail"*)`, `('e' <-> 'mail':*)`},
	{`"unterminated phrase`, `("unterminated phrase"*)`, `('unterminated' <-> 'phrase':*)`},
	{`a "" -"" - b`, `("a" AND "b")`, `('a' & 'b')`},
	{`x' OR 1=1; "--`, `("x" OR "1 1")`, `('x' | '1' <-> '1')`},
	{`"big a"`, `("big a")`, `('big' <-> 'a')`},
	{`Élysée`, `("elysee"*)`, `('elysee':*)`},
}

func TestParse(t *testing.T) {
	for _, tt := range queryTests {
		q, err := Parse(tt.term)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.term, err)
		}
		if got := q.FTS5(); got != tt.fts5 {
			t.Errorf("Parse(%q).FTS5() = %s; want %s", tt.term, got, tt.fts5)
		}
		if got := q.TSQuery(); got != tt.tsquery {
			t.Errorf("Parse(%q).TSQuery() = %s; want %s", tt.term, got, tt.tsquery)
		}
		if got := q.Empty(); got != (tt.fts5 == "") {
			t.Errorf("Parse(%q).Empty() = %v", tt.term, got)
		}
	}
	if _, err := Parse(strings.Repeat("w ", MaxItems+1)); err != ErrTooManyItems {
		t.Errorf("Parse(%d words) = %v; want ErrTooManyItems", MaxItems+1, err)
	}
	if _, err := Parse(strings.Repeat("w-", maxTokens+1)); err != ErrTooManyItems {
		t.Errorf("Parse(a word of %d tokens) = %v; want ErrTooManyItems", maxTokens+1, err)
	}
	if _, err := Parse(strings.Repeat("w ", MaxItems)); err != nil {
		t.Errorf("Parse(%d words) = %v; want nil", MaxItems, err)
	}
}

func TestRank(t *testing.T) {
	q, _ := Parse("apple")
	one := q.Rank(Normalize("I like an apple in the morning"))
	three := q.Rank(Normalize("apple apple applesauce in the morning"))
	none := q.Rank(Normalize("pears only"))
	long := q.Rank(Normalize("apple " + strings.Repeat("filler ", 200)))
	if !(three > one && one > long && long > none && none == 0) {
		t.Errorf("Rank: three=%v one=%v long=%v none=%v; want three > one > long > none = 0", three, one, long, none)
	}
	if a, b := q.Rank("apple pie"), q.Rank("apple pie"); a != b {
		t.Errorf("Rank is not deterministic: %v, %v", a, b)
	}
	if a, _ := Parse("a"); a.Rank("apple a") != a.Rank("bob a") {
		t.Errorf("one letter matched as a prefix: Rank(apple a) = %v, Rank(bob a) = %v", a.Rank("apple a"), a.Rank("bob a"))
	}
	phrase, _ := Parse(`"martian men"`)
	if got := phrase.Rank("the men of martian origin"); got != 0 {
		t.Errorf("phrase rank of words out of order = %v; want 0", got)
	}
	if got := phrase.Rank("the martian menagerie"); got <= 0 {
		t.Errorf("phrase rank of a prefix match = %v; want > 0", got)
	}
}

func TestHighlights(t *testing.T) {
	q, _ := Parse(`reunion "big plan" -cancelled`)
	got := q.Highlights("Réunion: the BIG plans, Réunion again; cancelled? planning")
	want := []string{"Réunion", "BIG", "plans", "planning"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Highlights = %q; want %q", got, want)
	}
}

var userTermsTests = []struct {
	userID, displayName string
	want                []string
}{
	{"@alice:chappe.test", "", []string{"@alice:chappe.test", "alice"}},
	{"@alice.smith:chappe.test", "Alice Smith", []string{"@alice.smith:chappe.test", "alice", "smith"}},
	{"@Bob:chappe.test", "Böb le Bricoleur", []string{"@bob:chappe.test", "bob", "bricoleur", "le"}},
}

func TestUserTerms(t *testing.T) {
	for _, tt := range userTermsTests {
		if got := UserTerms(tt.userID, tt.displayName); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("UserTerms(%q, %q) = %q; want %q", tt.userID, tt.displayName, got, tt.want)
		}
	}
}

var prefixesTests = []struct {
	term string
	want []string
}{
	{"", nil},
	{"@", nil},
	{"  Alice  smi ", []string{"alice", "smi"}},
	{"@Alice:chap", []string{"@alice:chap"}},
	{"bob bob", []string{"bob"}},
	{"a b c d e f g h i j", []string{"a", "b", "c", "d", "e", "f", "g", "h"}},
}

func TestDirectoryPrefixes(t *testing.T) {
	for _, tt := range prefixesTests {
		if got := DirectoryPrefixes(tt.term); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("DirectoryPrefixes(%q) = %q; want %q", tt.term, got, tt.want)
		}
	}
}

var prefixEndTests = []struct{ in, want string }{
	{"", ""},
	{"abc", "abd"},
	{"az", "a{"},
	{"é", "ê"},
	{"a\U0010FFFF", "b"},
	{"\U0010FFFF", ""},
	{"a\uD7FF", "a\uE000"},
}

func TestPrefixEnd(t *testing.T) {
	for _, tt := range prefixEndTests {
		if got := PrefixEnd(tt.in); got != tt.want {
			t.Errorf("PrefixEnd(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzParse checks that any term parses into queries whose operands hold
// nothing but letters, digits and spaces, so that neither engine's query
// syntax is reachable from a search term.
func FuzzParse(f *testing.F) {
	for _, tt := range queryTests {
		f.Add(tt.term)
	}
	f.Fuzz(func(t *testing.T, term string) {
		q, err := Parse(term)
		if err != nil {
			return
		}
		for _, it := range q.items {
			for _, tok := range it.tokens {
				if tok == "" || !utf8.ValidString(tok) || len(tok) > maxTokenBytes {
					t.Fatalf("Parse(%q): bad token %q", term, tok)
				}
				for _, r := range tok {
					if !isWordRune(r) {
						t.Fatalf("Parse(%q): token %q holds %q", term, tok, r)
					}
				}
			}
		}
		if q.Empty() != (q.FTS5() == "") || q.Empty() != (q.TSQuery() == "") {
			t.Fatalf("Parse(%q): Empty disagrees with the rendered queries", term)
		}
		_ = q.Rank(Normalize(term))
		_ = q.Highlights(term)
	})
}
