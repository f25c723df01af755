package auth

import "chappe.eu/chappe/internal/room/event"

// RedactionAllowed reports whether a redaction that passed Check should be
// applied to original, given the power levels in force ("Handling
// redactions", v3+): when the redaction's sender has the redact level, or is
// on the same server as the original's sender. In v1–v2 the authorization
// rules decided this already (rule 11), so it returns the same answer as that
// rule: the redact level, or the same server in both event IDs.
func RedactionAllowed(redaction, original *event.Event, pl *PowerLevels) bool {
	if pl.UserLevel(redaction.Sender()) >= pl.Redact {
		return true
	}
	if redactionAuthRule(redaction.Version()) {
		d := domain(redaction.Redacts())
		return d != "" && d == domain(redaction.EventID())
	}
	return domain(redaction.Sender()) == domain(original.Sender())
}
