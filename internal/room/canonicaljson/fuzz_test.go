package canonicaljson

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// FuzzCanonicalJSON checks Encode against encoding/json: whatever Encode
// accepts, encoding/json accepts too and reads as the same value; the
// output is a fixed point of Encode; and in strict mode it is canonical.
func FuzzCanonicalJSON(f *testing.F) {
	for _, tt := range specExamples {
		f.Add([]byte(tt.in))
	}
	for _, tt := range encodeTests {
		f.Add([]byte(tt.in))
	}
	for _, tt := range badInputs {
		if len(tt.in) < 1000 {
			f.Add([]byte(tt.in))
		}
	}
	f.Add([]byte(`{"content":{"body":"hi","msgtype":"m.text"},"depth":3,"prev_events":["$a"],"type":"m.room.message"}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, strict := range []bool{false, true} {
			out, err := Encode(in, strict)
			if err != nil {
				continue
			}
			if !json.Valid(in) {
				t.Fatalf("Encode(%q) accepted JSON that encoding/json refuses", in)
			}
			if want, got := decode(t, in), decode(t, out); !reflect.DeepEqual(want, got) {
				t.Fatalf("Encode(%q) = %q changes the value: %#v; want %#v", in, out, got, want)
			}
			again, err := Encode(out, strict)
			if err != nil || !bytes.Equal(again, out) {
				t.Fatalf("Encode(Encode(%q)) = %q, %v; want %q", in, again, err, out)
			}
			if strict && !IsCanonical(out) {
				t.Fatalf("Encode(%q, strict) = %q is not canonical", in, out)
			}
			// The helpers walk canonical output exactly: an object rebuilt
			// from its members, or an array from its elements, is unchanged.
			if len(out) > 0 && out[0] == '{' {
				if got := Filter(nil, out, func([]byte) bool { return true }); !bytes.Equal(got, out) {
					t.Fatalf("Filter(%q, all) = %q", out, got)
				}
			}
			if len(out) > 0 && out[0] == '[' {
				var elems [][]byte
				for e := range Elements(out) {
					elems = append(elems, e)
				}
				if got := "[" + string(bytes.Join(elems, []byte(","))) + "]"; got != string(out) {
					t.Fatalf("Elements(%q) rebuilt = %q", out, got)
				}
			}
		}
	})
}

// decode reads JSON into a comparable value, numbers as their text with -0
// read as 0 (which Encode is required to write).
func decode(t *testing.T, b []byte) any {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("encoding/json: %v", err)
	}
	return normalize(v)
}

func normalize(v any) any {
	switch v := v.(type) {
	case json.Number:
		if strings.TrimLeft(string(v), "-") == "0" {
			return json.Number("0")
		}
	case []any:
		for i := range v {
			v[i] = normalize(v[i])
		}
	case map[string]any:
		for k := range v {
			v[k] = normalize(v[k])
		}
	}
	return v
}
