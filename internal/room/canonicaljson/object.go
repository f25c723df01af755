package canonicaljson

import (
	"bytes"
	"encoding/json"
	"iter"
	"unicode/utf8"
)

// The functions in this file work on JSON that Encode produced ("canonical
// input"): no whitespace, sorted keys, well-formed strings. They do not parse
// it again, which is what makes editing events cheap. On other input they
// never panic, but may stop early or give wrong answers.
//
// A raw key is a key as it appears in canonical JSON, without its quotes.
// It equals the key itself unless the key contains '"', '\\' or a control
// character, which no key the protocol defines does; so comparing a raw key
// with a protocol key name such as "content" is exact.

// Members yields the raw key and the value of each member of the canonical
// object obj, in order. It yields nothing if obj is not an object.
func Members(obj []byte) iter.Seq2[[]byte, []byte] {
	return func(yield func([]byte, []byte) bool) {
		if len(obj) < 2 || obj[0] != '{' {
			return
		}
		for i := 1; i < len(obj) && obj[i] != '}'; {
			if obj[i] == ',' {
				i++
			}
			kEnd := skipString(obj, i)
			if kEnd < 0 || kEnd >= len(obj) || obj[kEnd] != ':' {
				return
			}
			vEnd := skipValue(obj, kEnd+1)
			if vEnd < 0 {
				return
			}
			if !yield(obj[i+1:kEnd-1], obj[kEnd+1:vEnd]) {
				return
			}
			i = vEnd
		}
	}
}

// Elements yields each element of the canonical array arr. It yields
// nothing if arr is not an array.
func Elements(arr []byte) iter.Seq[[]byte] {
	return func(yield func([]byte) bool) {
		if len(arr) < 2 || arr[0] != '[' {
			return
		}
		for i := 1; i < len(arr) && arr[i] != ']'; {
			if arr[i] == ',' {
				i++
			}
			end := skipValue(arr, i)
			if end < 0 || !yield(arr[i:end]) {
				return
			}
			i = end
		}
	}
}

// Get returns the value of key in the canonical object obj.
func Get(obj []byte, key string) (value []byte, ok bool) {
	for k, v := range Members(obj) {
		if keyEqual(k, key) {
			return v, true
		}
	}
	return nil, false
}

// Set returns a copy of the canonical object obj in which key has the
// canonical value value, added in key order or replacing the old value.
// obj may be nil, meaning {}. It does not modify obj.
func Set(obj []byte, key string, value []byte) []byte {
	out := make([]byte, 0, len(obj)+len(key)+len(value)+4)
	out = append(out, '{')
	done := false
	put := func(k string, v []byte) {
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = AppendString(out, k)
		out = append(out, ':')
		out = append(out, v...)
	}
	for k, v := range Members(obj) {
		c := keyCompare(k, key)
		if !done && c >= 0 {
			put(key, value)
			done = true
			if c == 0 {
				continue
			}
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, '"')
		out = append(out, k...)
		out = append(out, '"', ':')
		out = append(out, v...)
	}
	if !done {
		put(key, value)
	}
	return append(out, '}')
}

// Filter appends to dst the canonical object obj with only the members for
// whose raw key keep returns true. Order is kept, so the result is canonical.
func Filter(dst, obj []byte, keep func(rawKey []byte) bool) []byte {
	dst = append(dst, '{')
	first := true
	for k, v := range Members(obj) {
		if !keep(k) {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, '"')
		dst = append(dst, k...)
		dst = append(dst, '"', ':')
		dst = append(dst, v...)
	}
	return append(dst, '}')
}

// Delete returns a copy of the canonical object obj without the given keys.
func Delete(obj []byte, keys ...string) []byte {
	return Filter(make([]byte, 0, len(obj)), obj, func(k []byte) bool {
		for _, key := range keys {
			if keyEqual(k, key) {
				return false
			}
		}
		return true
	})
}

// Unquote returns the string that the canonical JSON string s encodes.
func Unquote(s []byte) (string, error) {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return "", errNotString
	}
	s = s[1 : len(s)-1]
	if bytes.IndexByte(s, '\\') < 0 {
		return string(s), nil
	}
	return unescapeCanonical(s), nil
}

var errNotString = &Error{Err: ErrSyntax, Detail: "not a JSON string"}

// AppendString appends s to dst as a canonical JSON string. Invalid UTF-8
// in s is written as U+FFFD, since canonical JSON must be valid UTF-8.
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		start := i
		for i < len(s) && safeASCII[s[i]] {
			i++
		}
		dst = append(dst, s[start:i]...)
		if i >= len(s) {
			break
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		appendRune(&dst, r) // RuneError for invalid bytes
		i += size
	}
	return append(dst, '"')
}

// Marshal returns the strict canonical JSON encoding of v, as encoding/json
// marshals it. Floats are refused, since new JSON must be valid in every
// room version.
func Marshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return Encode(b, true)
}

// IsCanonical reports whether data is already strict canonical JSON.
func IsCanonical(data []byte) bool {
	e := encoderPool.Get().(*encoder)
	defer e.release()
	e.in, e.out, e.strict = data, e.discard[:0], true
	err := e.top()
	ok := err == nil && bytes.Equal(e.out, data)
	e.discard = e.out[:0]
	return ok
}

// keyEqual reports whether the raw key k encodes key.
func keyEqual(k []byte, key string) bool {
	if bytes.IndexByte(k, '\\') < 0 {
		return string(k) == key
	}
	return unescapeCanonical(k) == key
}

// keyCompare compares the raw key k with key by code point.
func keyCompare(k []byte, key string) int {
	if bytes.IndexByte(k, '\\') >= 0 {
		k = []byte(unescapeCanonical(k))
	}
	return bytesCompare(k, []byte(key))
}

// skipString returns the index just past the string starting at b[i], or -1.
func skipString(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	for i++; ; {
		// IndexByte is vectorised; strings are most of an event's bytes.
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return -1
		}
		i += j
		// The quote ends the string unless an odd number of backslashes
		// escapes it.
		n := 0
		for k := i - 1; k >= 0 && b[k] == '\\'; k-- {
			n++
		}
		i++
		if n%2 == 0 {
			return i
		}
	}
}

// skipValue returns the index just past the canonical value starting at
// b[i], or -1.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			case '"':
				end := skipString(b, i)
				if end < 0 {
					return -1
				}
				i = end - 1
			}
		}
		return -1
	default: // number or literal: runs to the next delimiter
		for ; i < len(b); i++ {
			switch b[i] {
			case ',', '}', ']':
				return i
			}
		}
		return i
	}
}
