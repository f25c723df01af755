package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"unicode/utf8"

	"chappe.eu/chappe/internal/matrix"
)

// MaxJSONDepth caps the nesting of request bodies. The spec's own event
// content rarely nests more than a handful of levels; deep nesting is
// an attack on the decoder.
const MaxJSONDepth = 32

// ReadJSON reads at most limit bytes of the request body and decodes it
// into v. It answers, as the spec asks:
//   - M_TOO_LARGE (413) for a body over the limit,
//   - M_NOT_JSON (400) for a body that is not JSON (or not UTF-8, or
//     nested deeper than MaxJSONDepth),
//   - M_BAD_JSON (400) for JSON of the wrong shape (not an object, wrong
//     types).
//
// An empty body decodes as {} (several endpoints accept no body).
func ReadJSON(r *http.Request, limit int64, v any) error {
	body, err := ReadBody(r, limit)
	if err != nil {
		return err
	}
	return DecodeJSON(body, v)
}

// ReadBody reads the whole body, refusing more than limit bytes (from the
// Content-Length before reading, when the client sends one).
func ReadBody(r *http.Request, limit int64) ([]byte, error) {
	tooLarge := matrix.Errorf(http.StatusRequestEntityTooLarge, matrix.ErrTooLarge, "Request body too large")
	if r.ContentLength > limit {
		return nil, tooLarge
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, matrix.Errorf(http.StatusBadRequest, matrix.ErrNotJSON, "Could not read request body")
	}
	if int64(len(body)) > limit {
		return nil, tooLarge
	}
	return body, nil
}

// DecodeJSON decodes a JSON object into v with the error codes of ReadJSON.
func DecodeJSON(body []byte, v any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		body = []byte("{}")
	}
	if !utf8.Valid(body) || !json.Valid(body) {
		return matrix.Errorf(http.StatusBadRequest, matrix.ErrNotJSON, "Content not JSON")
	}
	if depth(body) > MaxJSONDepth {
		return matrix.Errorf(http.StatusBadRequest, matrix.ErrNotJSON, "JSON nested too deeply")
	}
	if body[0] != '{' {
		return matrix.BadJSON("Request body must be a JSON object")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return matrix.BadJSON("%s: expected %s", te.Field, kindName(te.Type.Kind().String()))
		}
		return matrix.BadJSON("Malformed JSON: %s", jsonErrText(err))
	}
	return nil
}

// depth returns the maximum nesting of valid JSON, skipping strings.
func depth(b []byte) int {
	d, max, inString := 0, 0, false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			d++
			if d > max {
				max = d
			}
		case '}', ']':
			d--
		}
	}
	return max
}

func kindName(k string) string {
	switch k {
	case "struct", "map":
		return "an object"
	case "slice", "array":
		return "a list"
	case "bool":
		return "a boolean"
	case "string":
		return "a string"
	}
	return "a number"
}

func jsonErrText(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("unexpected %s", te.Value)
	}
	return "invalid value"
}
