package auth

import (
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// specRejects lists, for room version v, every rule of the version's page
// that can reject an event, numbered as the page numbers it. Written from
// the pages, not from the code: TestGoldenRoomsCoverEveryRule checks that
// the golden rooms reject an event under each of them, and that they expect
// no rejection under a rule that does not exist.
func specRejects(v int) []string {
	var r []string
	add := func(rules ...string) { r = append(r, rules...) }
	// Rule 1, m.room.create.
	add("1.1", "1.2", "1.3")
	if v <= 10 || v == 12 {
		add("1.4") // no creator (v1–v10); additional_creators (v12)
	}
	m, j, s := 5, 6, 9 // m.room.member, sender joined, state_key @
	tpi, req, pl := 7, 8, 10
	switch {
	case v >= 6 && v <= 11:
		m, j, tpi, req, s, pl = 4, 5, 6, 7, 8, 9
		add("3")
	case v == 12:
		add("2", "4")
	default:
		add("3", "4.1", "4.2") // m.federate; m.room.aliases
	}
	member := func(sub string) { add(strconv.Itoa(m) + "." + sub) }
	member("1")
	join, invite, leave, ban, knock, unknown := 2, 3, 4, 5, 6, 6
	if v >= 7 {
		unknown = 7
	}
	if v >= 8 {
		// 4.2 (join_authorised_via_users_server signature) is the caller's.
		join, invite, leave, ban, knock, unknown = 3, 4, 5, 6, 7, 8
	}
	js := func(n int) string { return strconv.Itoa(join) + "." + strconv.Itoa(n) }
	member(js(2))
	member(js(3))
	member(js(4))
	if v >= 8 {
		member(js(5) + ".2")
		member(js(7))
	} else {
		member(js(6))
	}
	for _, n := range []string{"1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.8", "2", "3", "5"} {
		member(strconv.Itoa(invite) + "." + n)
	}
	for _, n := range []string{"1", "2", "3", "5"} {
		member(strconv.Itoa(leave) + "." + n)
	}
	member(strconv.Itoa(ban) + ".1")
	member(strconv.Itoa(ban) + ".3")
	if v >= 7 {
		member(strconv.Itoa(knock) + ".1")
		member(strconv.Itoa(knock) + ".2")
		member(strconv.Itoa(knock) + ".4")
	}
	member(strconv.Itoa(unknown))
	add(strconv.Itoa(j), strconv.Itoa(tpi)+".1", strconv.Itoa(req), strconv.Itoa(s))
	p := func(subs ...string) {
		for _, sub := range subs {
			add(strconv.Itoa(pl) + "." + sub)
		}
	}
	switch {
	case v <= 9:
		p("1", "3.1", "3.2", "4.1", "5.1", "6.1", "7.1")
	case v <= 11:
		p("1", "2", "3", "5.1", "5.2", "6.1", "7.1", "8.1", "9.1")
	default:
		p("1", "2", "3", "4", "6.1", "6.2", "7.1", "8.1", "9.1", "10.1")
	}
	if v <= 2 {
		add("11.3") // m.room.redaction
	}
	return r
}

// unitRejects are rules tested by the Go tables rather than golden rooms:
// they need state that no replay builds (check_test.go, selection_test.go).
func unitRejects(v int) []string {
	if v == 12 {
		return []string{"2", "3.1", "3.2", "3.3", "3.5"}
	}
	return []string{"2.1", "2.2", "2.3", "2.4", "2.5"}
}

func TestGoldenRoomsCoverEveryRule(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.jsonl")
	for vn := 1; vn <= 12; vn++ {
		expected := map[string]bool{}
		for _, file := range files {
			lines := readGolden(t, file)
			versions := "1-12"
			if len(lines) > 0 && lines[0].Event == nil {
				versions, lines = lines[0].Versions, lines[1:]
			}
			if !inVersions(versions, vn) {
				continue
			}
			for _, l := range lines {
				if inVersions(l.Versions, vn) {
					if rule, ok := strings.CutPrefix(l.expected(t, vn), "reject "); ok {
						expected[rule] = true
					}
				}
			}
		}
		want := specRejects(vn)
		for _, rule := range want {
			if !expected[rule] && !slices.Contains(unitRejects(vn), rule) {
				t.Errorf("v%d: no golden line is rejected under rule %s", vn, rule)
			}
		}
		for rule := range expected {
			if !slices.Contains(want, rule) {
				t.Errorf("v%d: golden lines expect rule %s, which the v%d page does not have", vn, rule, vn)
			}
		}
	}
}
