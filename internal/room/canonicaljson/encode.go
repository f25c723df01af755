// Package canonicaljson implements Matrix canonical JSON (appendices,
// "Canonical JSON"): the shortest UTF-8 encoding of a JSON value, object keys
// sorted by Unicode code point, no insignificant whitespace, and only the
// escapes the spec's grammar requires (\" \\ \b \t \n \f \r and \u00xx in
// lower-case hex for other control characters); everything else is written
// as literal UTF-8.
//
// Encode parses arbitrary JSON with its own tokenizer, so that it can refuse
// what encoding/json silently accepts: duplicate keys, invalid UTF-8, lone
// UTF-16 surrogates and unbounded nesting. In strict mode (room versions 6
// and later) it also refuses numbers that are not integers in
// [-(2**53)+1, (2**53)-1]; in lax mode (room versions 1–5) it keeps such
// numbers exactly as written, because there is no agreed canonical form for
// them and only the sender's own bytes reproduce the sender's hashes.
//
// The helpers in object.go read and edit JSON that Encode produced without
// parsing it again.
package canonicaljson

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"unicode/utf8"
)

// MaxDepth is how deeply arrays and objects may nest. Encode refuses deeper
// input with ErrTooDeep. No legitimate Matrix JSON comes near it; the limit
// exists so that hostile input (65,536 bytes of "[") cannot recurse
// unboundedly. It is generous rather than tight because other servers
// (Synapse fails only near Python's recursion limit of 1,000) accept deep
// events and refusing one they accept would split a room.
const MaxDepth = 512

// MaxSafeInteger is the largest integer canonical JSON allows, 2**53 - 1;
// the smallest is its negation.
const MaxSafeInteger = 1<<53 - 1

// The reasons Encode refuses its input. Errors returned by this package are
// *Error values that wrap one of these; test with errors.Is.
var (
	ErrSyntax       = errors.New("invalid JSON")
	ErrDuplicateKey = errors.New("duplicate object key")
	ErrInvalidUTF8  = errors.New("invalid UTF-8 or lone surrogate")
	ErrTooDeep      = errors.New("nesting deeper than MaxDepth")
	ErrFloat        = errors.New("number is not an integer")
	ErrRange        = errors.New("integer out of the range ±(2**53-1)")
)

// Error reports why and where input was refused.
type Error struct {
	Offset int   // byte offset in the input
	Err    error // one of the Err* values above
	Detail string
}

func (e *Error) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("canonicaljson: %v at offset %d: %s", e.Err, e.Offset, e.Detail)
	}
	return fmt.Sprintf("canonicaljson: %v at offset %d", e.Err, e.Offset)
}

func (e *Error) Unwrap() error { return e.Err }

// Encode returns the canonical JSON encoding of the JSON value in data.
// Leading and trailing whitespace is allowed; anything else after the value
// is not. With strict set, numbers must be integers within ±(2**53-1) (room
// versions 6+); without it they are copied as written, except that -0 is
// written 0.
//
// NOTSPEC: the appendix's example turns 1e10 into 10000000000. In strict mode
// 1e10 is refused, as Synapse refuses it; in lax mode it is kept as "1e10",
// because implementations disagree on float formatting (Python writes
// 10000000000.0) and only the originating server's bytes match its hashes.
func Encode(data []byte, strict bool) ([]byte, error) {
	return AppendEncode(make([]byte, 0, len(data)), data, strict)
}

// AppendEncode appends the canonical encoding of data to dst, like Encode.
// On error dst is returned unchanged in length.
func AppendEncode(dst, data []byte, strict bool) ([]byte, error) {
	e := encoderPool.Get().(*encoder)
	defer e.release()
	e.in, e.out, e.strict = data, dst, strict
	if err := e.top(); err != nil {
		return dst, err
	}
	return e.out, nil
}

// Valid reports whether data is acceptable to Encode, without keeping the
// output.
func Valid(data []byte, strict bool) error {
	e := encoderPool.Get().(*encoder)
	defer e.release()
	e.in, e.out, e.strict = data, e.discard[:0], strict
	err := e.top()
	e.discard = e.out[:0]
	return err
}

var encoderPool = sync.Pool{New: func() any { return new(encoder) }}

// encoder holds the state of one Encode call. Objects are written to out in
// input order; when an object ends, its members are checked for order and
// duplicates and, only if they were not already sorted, rewritten in order.
// Most Matrix JSON arrives sorted, so the rewrite is rare.
type encoder struct {
	in     []byte
	pos    int
	out    []byte
	strict bool
	depth  int

	members []member // members of every open object, innermost last
	scratch []byte   // copy of an object being reordered
	discard []byte   // reused output buffer for Valid
}

// member is one `"key":value` of an object being encoded, as offsets into out.
type member struct {
	start, end int // the whole member
	keyEnd     int // end of the key's canonical content (start+1 is its start)
	inPos      int // where the key began in the input, for errors
	decoded    string
	escaped    bool // the canonical key holds escapes; compare decoded instead
}

func (e *encoder) release() {
	if cap(e.scratch) > 1<<20 {
		e.scratch = nil // don't pin a huge buffer in the pool
	}
	if cap(e.discard) > 1<<20 {
		e.discard = nil
	}
	e.in, e.out, e.pos, e.depth = nil, nil, 0, 0
	e.members = e.members[:0]
	encoderPool.Put(e)
}

func (e *encoder) fail(err error, detail string) error {
	return &Error{Offset: e.pos, Err: err, Detail: detail}
}

func (e *encoder) top() error {
	if err := e.value(); err != nil {
		return err
	}
	e.skipSpace()
	if e.pos != len(e.in) {
		return e.fail(ErrSyntax, "data after the top-level value")
	}
	return nil
}

func (e *encoder) skipSpace() {
	for e.pos < len(e.in) {
		switch e.in[e.pos] {
		case ' ', '\t', '\n', '\r':
			e.pos++
		default:
			return
		}
	}
}

func (e *encoder) value() error {
	e.skipSpace()
	if e.pos >= len(e.in) {
		return e.fail(ErrSyntax, "unexpected end of input")
	}
	switch c := e.in[e.pos]; {
	case c == '{':
		return e.object()
	case c == '[':
		return e.array()
	case c == '"':
		_, err := e.string()
		return err
	case c == 't':
		return e.literal("true")
	case c == 'f':
		return e.literal("false")
	case c == 'n':
		return e.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		return e.number()
	default:
		return e.fail(ErrSyntax, fmt.Sprintf("unexpected %q", c))
	}
}

func (e *encoder) literal(lit string) error {
	if len(e.in)-e.pos < len(lit) || string(e.in[e.pos:e.pos+len(lit)]) != lit {
		return e.fail(ErrSyntax, "invalid literal")
	}
	e.pos += len(lit)
	e.out = append(e.out, lit...)
	return nil
}

func (e *encoder) enter() error {
	e.depth++
	if e.depth > MaxDepth {
		return e.fail(ErrTooDeep, "")
	}
	return nil
}

func (e *encoder) array() error {
	if err := e.enter(); err != nil {
		return err
	}
	e.pos++
	e.out = append(e.out, '[')
	e.skipSpace()
	if e.pos < len(e.in) && e.in[e.pos] == ']' {
		e.pos++
		e.out = append(e.out, ']')
		e.depth--
		return nil
	}
	for {
		if err := e.value(); err != nil {
			return err
		}
		e.skipSpace()
		if e.pos >= len(e.in) {
			return e.fail(ErrSyntax, "unterminated array")
		}
		switch e.in[e.pos] {
		case ',':
			e.pos++
			e.out = append(e.out, ',')
		case ']':
			e.pos++
			e.out = append(e.out, ']')
			e.depth--
			return nil
		default:
			return e.fail(ErrSyntax, "expected , or ] in array")
		}
	}
}

func (e *encoder) object() error {
	if err := e.enter(); err != nil {
		return err
	}
	objStart := len(e.out)
	base := len(e.members)
	e.pos++
	e.out = append(e.out, '{')
	e.skipSpace()
	if e.pos < len(e.in) && e.in[e.pos] == '}' {
		e.pos++
		e.out = append(e.out, '}')
		e.depth--
		return nil
	}
	for {
		e.skipSpace()
		if e.pos >= len(e.in) || e.in[e.pos] != '"' {
			return e.fail(ErrSyntax, "expected a string key")
		}
		if len(e.members) > base {
			e.out = append(e.out, ',')
		}
		m := member{start: len(e.out), inPos: e.pos}
		escaped, err := e.string()
		if err != nil {
			return err
		}
		m.keyEnd = len(e.out) - 1
		if escaped {
			m.escaped = true
			m.decoded = unescapeCanonical(e.out[m.start+1 : m.keyEnd])
		}
		e.skipSpace()
		if e.pos >= len(e.in) || e.in[e.pos] != ':' {
			return e.fail(ErrSyntax, "expected : after key")
		}
		e.pos++
		e.out = append(e.out, ':')
		if err := e.value(); err != nil {
			return err
		}
		m.end = len(e.out)
		e.members = append(e.members, m)

		e.skipSpace()
		if e.pos >= len(e.in) {
			return e.fail(ErrSyntax, "unterminated object")
		}
		if e.in[e.pos] == ',' {
			e.pos++
			continue
		}
		if e.in[e.pos] != '}' {
			return e.fail(ErrSyntax, "expected , or } in object")
		}
		e.pos++
		break
	}
	err := e.sortMembers(objStart, e.members[base:])
	e.members = e.members[:base]
	e.depth--
	return err
}

func (e *encoder) key(m *member) []byte {
	if m.escaped {
		return []byte(m.decoded)
	}
	return e.out[m.start+1 : m.keyEnd]
}

func (e *encoder) compare(a, b *member) int {
	if !a.escaped && !b.escaped {
		return bytesCompare(e.out[a.start+1:a.keyEnd], e.out[b.start+1:b.keyEnd])
	}
	return bytesCompare(e.key(a), e.key(b))
}

// sortMembers finishes the object that starts at objStart in out: it
// refuses duplicate keys and puts members in key order. Sorting by UTF-8
// bytes is sorting by code point, which is what the spec asks for.
func (e *encoder) sortMembers(objStart int, ms []member) error {
	sorted := true
	for i := 1; i < len(ms); i++ {
		c := e.compare(&ms[i-1], &ms[i])
		if c == 0 {
			e.pos = ms[i].inPos
			return e.fail(ErrDuplicateKey, fmt.Sprintf("%q", e.key(&ms[i])))
		}
		if c > 0 {
			sorted = false
			break
		}
	}
	if !sorted {
		slices.SortFunc(ms, func(a, b member) int { return e.compare(&a, &b) })
		for i := 1; i < len(ms); i++ {
			if e.compare(&ms[i-1], &ms[i]) == 0 {
				e.pos = max(ms[i-1].inPos, ms[i].inPos)
				return e.fail(ErrDuplicateKey, fmt.Sprintf("%q", e.key(&ms[i])))
			}
		}
		e.scratch = append(e.scratch[:0], e.out[objStart:]...)
		e.out = append(e.out[:objStart], '{')
		for i, m := range ms {
			if i > 0 {
				e.out = append(e.out, ',')
			}
			e.out = append(e.out, e.scratch[m.start-objStart:m.end-objStart]...)
		}
	}
	e.out = append(e.out, '}')
	return nil
}

func bytesCompare(a, b []byte) int {
	// string conversion in a comparison does not allocate.
	switch sa, sb := string(a), string(b); {
	case sa < sb:
		return -1
	case sa > sb:
		return 1
	}
	return 0
}

// safeASCII[c] is true for the ASCII bytes a string may hold unescaped.
var safeASCII = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// string copies the string at pos to out in canonical form. escaped reports
// whether the canonical form contains an escape sequence, that is, whether
// its bytes differ from the decoded string.
func (e *encoder) string() (escaped bool, err error) {
	e.pos++
	e.out = append(e.out, '"')
	for {
		start := e.pos
		for e.pos < len(e.in) && safeASCII[e.in[e.pos]] {
			e.pos++
		}
		e.out = append(e.out, e.in[start:e.pos]...)
		if e.pos >= len(e.in) {
			return escaped, e.fail(ErrSyntax, "unterminated string")
		}
		switch c := e.in[e.pos]; {
		case c == '"':
			e.pos++
			e.out = append(e.out, '"')
			return escaped, nil
		case c < 0x20:
			return escaped, e.fail(ErrSyntax, "unescaped control character in string")
		case c >= 0x80:
			r, size := utf8.DecodeRune(e.in[e.pos:])
			if r == utf8.RuneError && size <= 1 {
				return escaped, e.fail(ErrInvalidUTF8, "")
			}
			e.out = append(e.out, e.in[e.pos:e.pos+size]...)
			e.pos += size
		default: // backslash
			esc, err := e.escape()
			if err != nil {
				return escaped, err
			}
			escaped = escaped || esc
		}
	}
}

// escape decodes the escape sequence at pos and writes its canonical form.
func (e *encoder) escape() (escaped bool, err error) {
	if e.pos+1 >= len(e.in) {
		return false, e.fail(ErrSyntax, "unterminated escape")
	}
	c := e.in[e.pos+1]
	e.pos += 2
	switch c {
	case '"', '\\':
		e.out = append(e.out, '\\', c)
		return true, nil
	case '/':
		e.out = append(e.out, '/')
		return false, nil
	case 'b', 'f', 'n', 'r', 't':
		e.out = append(e.out, '\\', c)
		return true, nil
	case 'u':
	default:
		e.pos -= 2
		return false, e.fail(ErrSyntax, "invalid escape")
	}
	r, ok := e.hex4()
	if !ok {
		return false, e.fail(ErrSyntax, "invalid \\u escape")
	}
	if 0xD800 <= r && r < 0xDC00 {
		// A high surrogate must be followed by an escaped low surrogate.
		if e.pos+1 < len(e.in) && e.in[e.pos] == '\\' && e.in[e.pos+1] == 'u' {
			e.pos += 2
			lo, ok := e.hex4()
			if !ok {
				return false, e.fail(ErrSyntax, "invalid \\u escape")
			}
			if 0xDC00 <= lo && lo < 0xE000 {
				r = 0x10000 + (r-0xD800)<<10 + (lo - 0xDC00)
				e.out = utf8.AppendRune(e.out, r)
				return false, nil
			}
		}
		return false, e.fail(ErrInvalidUTF8, "lone surrogate")
	}
	if 0xDC00 <= r && r < 0xE000 {
		return false, e.fail(ErrInvalidUTF8, "lone surrogate")
	}
	return appendRune(&e.out, r), nil
}

func (e *encoder) hex4() (rune, bool) {
	if len(e.in)-e.pos < 4 {
		return 0, false
	}
	var r rune
	for _, c := range e.in[e.pos : e.pos+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	e.pos += 4
	return r, true
}

const hexDigits = "0123456789abcdef"

// appendRune writes r as canonical string content and reports whether it
// needed an escape.
func appendRune(out *[]byte, r rune) (escaped bool) {
	switch {
	case r == '"' || r == '\\':
		*out = append(*out, '\\', byte(r))
	case r >= 0x20:
		*out = utf8.AppendRune(*out, r)
		return false
	case r == '\b':
		*out = append(*out, '\\', 'b')
	case r == '\t':
		*out = append(*out, '\\', 't')
	case r == '\n':
		*out = append(*out, '\\', 'n')
	case r == '\f':
		*out = append(*out, '\\', 'f')
	case r == '\r':
		*out = append(*out, '\\', 'r')
	default:
		*out = append(*out, '\\', 'u', '0', '0', hexDigits[r>>4], hexDigits[r&0xF])
	}
	return true
}

// number copies a number. JSON's grammar is checked in both modes; strict
// mode then refuses fractions, exponents and out-of-range integers.
func (e *encoder) number() error {
	start := e.pos
	if e.in[e.pos] == '-' {
		e.pos++
	}
	digits := e.pos
	switch {
	case e.pos >= len(e.in):
		return e.fail(ErrSyntax, "invalid number")
	case e.in[e.pos] == '0':
		e.pos++
	case '1' <= e.in[e.pos] && e.in[e.pos] <= '9':
		for e.pos < len(e.in) && '0' <= e.in[e.pos] && e.in[e.pos] <= '9' {
			e.pos++
		}
	default:
		return e.fail(ErrSyntax, "invalid number")
	}
	intEnd := e.pos
	integer := true
	if e.pos < len(e.in) && e.in[e.pos] == '.' {
		integer = false
		e.pos++
		if !e.digits() {
			return e.fail(ErrSyntax, "invalid number")
		}
	}
	if e.pos < len(e.in) && (e.in[e.pos] == 'e' || e.in[e.pos] == 'E') {
		integer = false
		e.pos++
		if e.pos < len(e.in) && (e.in[e.pos] == '+' || e.in[e.pos] == '-') {
			e.pos++
		}
		if !e.digits() {
			return e.fail(ErrSyntax, "invalid number")
		}
	}
	if !integer {
		if e.strict {
			e.pos = start
			return e.fail(ErrFloat, string(e.in[start:min(len(e.in), start+32)]))
		}
		e.out = append(e.out, e.in[start:e.pos]...)
		return nil
	}
	mag := e.in[digits:intEnd]
	if len(mag) == 1 && mag[0] == '0' {
		e.out = append(e.out, '0') // also for -0, which must not appear
		return nil
	}
	if e.strict && (len(mag) > 16 || len(mag) == 16 && string(mag) > "9007199254740991") {
		e.pos = start
		return e.fail(ErrRange, string(e.in[start:intEnd]))
	}
	e.out = append(e.out, e.in[start:intEnd]...)
	return nil
}

func (e *encoder) digits() bool {
	start := e.pos
	for e.pos < len(e.in) && '0' <= e.in[e.pos] && e.in[e.pos] <= '9' {
		e.pos++
	}
	return e.pos > start
}

// unescapeCanonical decodes the content of a canonical string (one that
// Encode wrote, so every escape is well formed).
func unescapeCanonical(b []byte) string {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '\\' || i+1 >= len(b) {
			out = append(out, c)
			continue
		}
		i++
		switch b[i] {
		case 'b':
			out = append(out, '\b')
		case 't':
			out = append(out, '\t')
		case 'n':
			out = append(out, '\n')
		case 'f':
			out = append(out, '\f')
		case 'r':
			out = append(out, '\r')
		case 'u':
			if i+4 < len(b) {
				out = append(out, unhex(b[i+3])<<4|unhex(b[i+4]))
				i += 4
			}
		default: // \" and \\ (and \/, which Encode never writes)
			out = append(out, b[i])
		}
	}
	return string(out)
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10
	}
	return 0
}
