package canonicaljson

import (
	"errors"
	"strings"
	"testing"
)

// specExamples are the examples of the appendix, "Canonical JSON", except
// the last one (-0 and 1e10), which numberTests covers.
var specExamples = []struct{ in, want string }{
	{`{}`, `{}`},
	{`{
    "one": 1,
    "two": "Two"
}`, `{"one":1,"two":"Two"}`},
	{`{
    "b": "2",
    "a": "1"
}`, `{"a":"1","b":"2"}`},
	{`{"b":"2","a":"1"}`, `{"a":"1","b":"2"}`},
	{`{
    "auth": {
        "success": true,
        "mxid": "@john.doe:example.com",
        "profile": {
            "display_name": "John Doe",
            "three_pids": [
                {
                    "medium": "email",
                    "address": "john.doe@example.org"
                },
                {
                    "medium": "msisdn",
                    "address": "123456789"
                }
            ]
        }
    }
}`, `{"auth":{"mxid":"@john.doe:example.com","profile":{"display_name":"John Doe","three_pids":[{"address":"john.doe@example.org","medium":"email"},{"address":"123456789","medium":"msisdn"}]},"success":true}}`},
	{`{
    "a": "日本語"
}`, `{"a":"日本語"}`},
	{`{
    "本": 2,
    "日": 1
}`, `{"日":1,"本":2}`},
	{`{
    "a": "\u65E5"
}`, `{"a":"日"}`},
	{`{
    "a": null
}`, `{"a":null}`},
}

func TestEncodeSpecExamples(t *testing.T) {
	for _, tt := range specExamples {
		for _, strict := range []bool{false, true} {
			got, err := Encode([]byte(tt.in), strict)
			if err != nil || string(got) != tt.want {
				t.Errorf("Encode(%q, %v) = %s, %v; want %s", tt.in, strict, got, err, tt.want)
			}
		}
	}
}

var encodeTests = []struct{ in, want string }{
	// Scalars at top level.
	{`true`, `true`},
	{` false `, `false`},
	{"\n\tnull\r ", `null`},
	{`"x"`, `"x"`},
	{`[]`, `[]`},
	{`[ 1 , [ 2 ] , { } ]`, `[1,[2],{}]`},
	// Only the required escapes survive; the rest become UTF-8.
	{`"\/"`, `"/"`},
	{`"\u0041\u00e9\u20AC"`, `"Aé€"`},
	{`"\ud83d\ude00"`, `"😀"`},
	{`"😀"`, `"😀"`},
	{`"\"\\"`, `"\"\\"`},
	{`"\u0022\u005c"`, `"\"\\"`},
	{`"\b\f\n\r\t"`, `"\b\f\n\r\t"`},
	{`"\u0008\u000c\u000A\u000d\u0009"`, `"\b\f\n\r\t"`},
	{`"\u0000\u0001\u001F\u000B\u000e"`, `"\u0000\u0001\u001f\u000b\u000e"`},
	{`"\u007f"`, "\"\x7f\""},
	{`"\u2028\u2029<>&"`, "\"\u2028\u2029<>&\""}, // unlike encoding/json
	{`"\ufffd"`, "\"\ufffd\""},
	// Keys sort by code point (= UTF-8 bytes), not by UTF-16 units:
	// U+FF61 < U+1F600 although its UTF-16 form is larger.
	{`{"😀":1,"｡":2}`, `{"｡":2,"😀":1}`},
	{`{"b":1,"a":{"d":1,"c":2},"A":[{"z":1,"y":2}]}`, `{"A":[{"y":2,"z":1}],"a":{"c":2,"d":1},"b":1}`},
	// Keys compare decoded: "\"" (U+0022) sorts before "#" (U+0023) though
	// its canonical form starts with a backslash.
	{`{"#":1,"\"":2}`, `{"\"":2,"#":1}`},
	{`{"\u0062":1,"a":2}`, `{"a":2,"b":1}`},
	{`{"aa":1,"a":2,"":3}`, `{"":3,"a":2,"aa":1}`},
}

func TestEncode(t *testing.T) {
	for _, tt := range encodeTests {
		got, err := Encode([]byte(tt.in), true)
		if err != nil || string(got) != tt.want {
			t.Errorf("Encode(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

var numberTests = []struct {
	in     string
	strict string // "" means refused with strictErr
	err    error
	lax    string
}{
	{`0`, `0`, nil, `0`},
	{`-0`, `0`, nil, `0`},
	{`{"a": -0, "b": 1e10}`, ``, ErrFloat, `{"a":0,"b":1e10}`}, // NOTSPEC: see Encode
	{`9007199254740991`, `9007199254740991`, nil, `9007199254740991`},
	{`-9007199254740991`, `-9007199254740991`, nil, `-9007199254740991`},
	{`9007199254740992`, ``, ErrRange, `9007199254740992`},
	{`-9007199254740992`, ``, ErrRange, `-9007199254740992`},
	{`12345678901234567890`, ``, ErrRange, `12345678901234567890`},
	{`1.0`, ``, ErrFloat, `1.0`},
	{`-0.0`, ``, ErrFloat, `-0.0`},
	{`1E+2`, ``, ErrFloat, `1E+2`},
	{`[1.5,2]`, ``, ErrFloat, `[1.5,2]`},
}

func TestEncodeNumbers(t *testing.T) {
	for _, tt := range numberTests {
		got, err := Encode([]byte(tt.in), true)
		if tt.strict != "" && (err != nil || string(got) != tt.strict) {
			t.Errorf("Encode(%s, strict) = %s, %v; want %s", tt.in, got, err, tt.strict)
		}
		if tt.strict == "" && !errors.Is(err, tt.err) {
			t.Errorf("Encode(%s, strict) = %s, %v; want error %v", tt.in, got, err, tt.err)
		}
		got, err = Encode([]byte(tt.in), false)
		if err != nil || string(got) != tt.lax {
			t.Errorf("Encode(%s, lax) = %s, %v; want %s", tt.in, got, err, tt.lax)
		}
	}
}

var badInputs = []struct {
	in  string
	err error
}{
	{``, ErrSyntax},
	{` `, ErrSyntax},
	{`{`, ErrSyntax},
	{`{"a"}`, ErrSyntax},
	{`{"a":1,}`, ErrSyntax},
	{`{a:1}`, ErrSyntax},
	{`[1,]`, ErrSyntax},
	{`[1 2]`, ErrSyntax},
	{`{} {}`, ErrSyntax},
	{`tru`, ErrSyntax},
	{`nul`, ErrSyntax},
	{`NaN`, ErrSyntax},
	{`Infinity`, ErrSyntax},
	{`-`, ErrSyntax},
	{`01`, ErrSyntax},
	{`-01`, ErrSyntax},
	{`1.`, ErrSyntax},
	{`.5`, ErrSyntax},
	{`1e`, ErrSyntax},
	{`+1`, ErrSyntax},
	{`"abc`, ErrSyntax},
	{"\"a\tb\"", ErrSyntax},
	{"\"a\nb\"", ErrSyntax},
	{`"\x"`, ErrSyntax},
	{`"\u12"`, ErrSyntax},
	{`"\u12G4"`, ErrSyntax},
	{"\ufeff{}", ErrSyntax}, // no byte order mark
	{`{"a":1,"a":2}`, ErrDuplicateKey},
	{`{"b":1,"a":2,"b":3}`, ErrDuplicateKey},
	{`{"a":1,"\u0061":2}`, ErrDuplicateKey},
	{`{"x":{"a":1,"a":1}}`, ErrDuplicateKey},
	{"\"\xff\"", ErrInvalidUTF8},
	{"\"\xc3\"", ErrInvalidUTF8},
	{"\"\xed\xa0\x80\"", ErrInvalidUTF8}, // surrogate encoded in UTF-8
	{"\"\xc0\xaf\"", ErrInvalidUTF8},     // overlong
	{"{\"\xff\":1}", ErrInvalidUTF8},
	{`"\ud800"`, ErrInvalidUTF8},
	{`"\udc00"`, ErrInvalidUTF8},
	{`"\ud800\u0041"`, ErrInvalidUTF8},
	{`"\ud800x"`, ErrInvalidUTF8},
	{strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1), ErrTooDeep},
	{strings.Repeat(`{"a":`, MaxDepth+1) + "1" + strings.Repeat("}", MaxDepth+1), ErrTooDeep},
	{strings.Repeat("[", 100000), ErrTooDeep},
}

func TestEncodeRefuses(t *testing.T) {
	for _, tt := range badInputs {
		for _, strict := range []bool{false, true} {
			got, err := Encode([]byte(tt.in), strict)
			if !errors.Is(err, tt.err) {
				in := tt.in
				if len(in) > 40 {
					in = in[:40] + "..."
				}
				t.Errorf("Encode(%q, %v) = %q, %v; want error %v", in, strict, got, err, tt.err)
			}
		}
	}
}

func TestEncodeDepthLimit(t *testing.T) {
	in := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	if _, err := Encode([]byte(in), true); err != nil {
		t.Errorf("Encode(%d nested arrays) = %v; want success", MaxDepth, err)
	}
}

func TestErrorOffset(t *testing.T) {
	_, err := Encode([]byte(`{"a": 1, "b": 1.5}`), true)
	var e *Error
	if !errors.As(err, &e) || e.Offset != 14 {
		t.Errorf("Encode error = %v; want *Error at offset 14", err)
	}
}

func TestAppendEncodeKeepsDst(t *testing.T) {
	dst := []byte("prefix:")
	got, err := AppendEncode(dst, []byte(`{"b":1,"a":2}`), true)
	if err != nil || string(got) != `prefix:{"a":2,"b":1}` {
		t.Errorf("AppendEncode = %q, %v", got, err)
	}
	got, err = AppendEncode(dst, []byte(`{"b":`), true)
	if err == nil || string(got) != "prefix:" {
		t.Errorf("AppendEncode(bad) = %q, %v; want prefix and error", got, err)
	}
}

func TestValidAndIsCanonical(t *testing.T) {
	if err := Valid([]byte(` {"b": 1, "a": [true]} `), true); err != nil {
		t.Errorf("Valid = %v", err)
	}
	if err := Valid([]byte(`{"a":1.5}`), true); !errors.Is(err, ErrFloat) {
		t.Errorf("Valid(float, strict) = %v; want ErrFloat", err)
	}
	for in, want := range map[string]bool{
		`{"a":1,"b":2}`:  true,
		`{"b":2,"a":1}`:  false,
		`{"a": 1}`:       false,
		`"\u00e9"`:       false,
		`"é"`:            true,
		`{"a":1.5}`:      false,
		`{"a":"\u001f"}`: true,
	} {
		if got := IsCanonical([]byte(in)); got != want {
			t.Errorf("IsCanonical(%s) = %v; want %v", in, got, want)
		}
	}
}
