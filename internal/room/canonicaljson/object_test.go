package canonicaljson

import (
	"strings"
	"testing"
)

func TestMembers(t *testing.T) {
	obj := []byte(`{"\"q":1,"a":{"x":[1,"]}"]},"b":"s\"}","c":[],"d":null,"e":-5}`)
	var got []string
	for k, v := range Members(obj) {
		got = append(got, string(k)+"="+string(v))
	}
	want := `\"q=1 a={"x":[1,"]}"]} b="s\"}" c=[] d=null e=-5`
	if strings.Join(got, " ") != want {
		t.Errorf("Members = %s; want %s", strings.Join(got, " "), want)
	}
	for range Members([]byte(`[1]`)) {
		t.Errorf("Members(array) yielded")
	}
}

func TestElements(t *testing.T) {
	var got []string
	for v := range Elements([]byte(`[1,"a,]",{"b":[2]},[],true]`)) {
		got = append(got, string(v))
	}
	want := `1|"a,]"|{"b":[2]}|[]|true`
	if strings.Join(got, "|") != want {
		t.Errorf("Elements = %s; want %s", strings.Join(got, "|"), want)
	}
}

func TestGet(t *testing.T) {
	obj := []byte(`{"\"":0,"a":1,"b":{"c":2}}`)
	for _, tt := range []struct {
		key, want string
		ok        bool
	}{{"a", "1", true}, {"b", `{"c":2}`, true}, {`"`, "0", true}, {"c", "", false}} {
		got, ok := Get(obj, tt.key)
		if string(got) != tt.want || ok != tt.ok {
			t.Errorf("Get(%s, %q) = %s, %v; want %s, %v", obj, tt.key, got, ok, tt.want, tt.ok)
		}
	}
}

var setTests = []struct{ obj, key, value, want string }{
	{``, "a", `1`, `{"a":1}`},
	{`{}`, "a", `1`, `{"a":1}`},
	{`{"b":2}`, "a", `1`, `{"a":1,"b":2}`},
	{`{"a":1}`, "b", `2`, `{"a":1,"b":2}`},
	{`{"a":1,"c":3}`, "b", `2`, `{"a":1,"b":2,"c":3}`},
	{`{"a":1,"b":0,"c":3}`, "b", `{"x":[]}`, `{"a":1,"b":{"x":[]},"c":3}`},
	{`{"#":1}`, `"`, `2`, `{"\"":2,"#":1}`},
	{`{"\"":2}`, "#", `1`, `{"\"":2,"#":1}`},
	{`{"a":1}`, "\n", `0`, `{"\n":0,"a":1}`},
}

func TestSet(t *testing.T) {
	for _, tt := range setTests {
		got := Set([]byte(tt.obj), tt.key, []byte(tt.value))
		if string(got) != tt.want {
			t.Errorf("Set(%s, %q, %s) = %s; want %s", tt.obj, tt.key, tt.value, got, tt.want)
		}
		if !IsCanonical(got) {
			t.Errorf("Set(%s, %q, %s) = %s is not canonical", tt.obj, tt.key, tt.value, got)
		}
	}
}

func TestDelete(t *testing.T) {
	obj := []byte(`{"hashes":{},"signatures":{"s":{}},"type":"x","unsigned":{"age":1}}`)
	got := Delete(obj, "signatures", "unsigned", "absent")
	if want := `{"hashes":{},"type":"x"}`; string(got) != want {
		t.Errorf("Delete = %s; want %s", got, want)
	}
	if got := Delete([]byte(`{"a":1}`), "a"); string(got) != `{}` {
		t.Errorf("Delete(only key) = %s; want {}", got)
	}
}

func TestUnquote(t *testing.T) {
	for in, want := range map[string]string{
		`""`:                "",
		`"abc"`:             "abc",
		`"é😀"`:              "é😀",
		`"\"\\\b\t\n\f\r"`:  "\"\\\b\t\n\f\r",
		`"a\u0000b\u001fc"`: "a\x00b\x1fc",
	} {
		got, err := Unquote([]byte(in))
		if err != nil || got != want {
			t.Errorf("Unquote(%s) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{``, `"`, `abc`, `1`, `{}`} {
		if _, err := Unquote([]byte(in)); err == nil {
			t.Errorf("Unquote(%s) succeeded; want error", in)
		}
	}
}

func TestAppendStringRoundTrip(t *testing.T) {
	for _, s := range []string{"", "plain", "q\"b\\", "\x00\x01\x08\x09\x0a\x0b\x0c\x0d\x1f\x7f", "日本語😀", "\u2028<>&"} {
		enc := AppendString(nil, s)
		if !IsCanonical(enc) {
			t.Errorf("AppendString(%q) = %s is not canonical", s, enc)
		}
		if got, _ := Unquote(enc); got != s {
			t.Errorf("Unquote(AppendString(%q)) = %q", s, got)
		}
	}
	if got := AppendString(nil, "a\xffb"); string(got) != "\"a\ufffdb\"" {
		t.Errorf("AppendString(invalid UTF-8) = %q; want U+FFFD", got)
	}
}

func TestMarshal(t *testing.T) {
	got, err := Marshal(map[string]any{"b": "<&>", "a": []int{1, 2}})
	if want := `{"a":[1,2],"b":"<&>"}`; err != nil || string(got) != want {
		t.Errorf("Marshal = %s, %v; want %s", got, err, want)
	}
	if _, err := Marshal(map[string]any{"f": 1.5}); err == nil {
		t.Errorf("Marshal(float) succeeded; want error")
	}
}
