// Package matrix holds the protocol's vocabulary shared by every part of
// Chappe: typed identifiers and the error codes of the client-server API.
// It imports nothing internal.
package matrix

import (
	"fmt"
	"net/http"
)

// Error codes of the client-server API ("Standard error response").
const (
	ErrForbidden            = "M_FORBIDDEN"
	ErrUnknownToken         = "M_UNKNOWN_TOKEN"
	ErrMissingToken         = "M_MISSING_TOKEN"
	ErrBadJSON              = "M_BAD_JSON"
	ErrNotJSON              = "M_NOT_JSON"
	ErrNotFound             = "M_NOT_FOUND"
	ErrLimitExceeded        = "M_LIMIT_EXCEEDED"
	ErrUnrecognized         = "M_UNRECOGNIZED"
	ErrUnknown              = "M_UNKNOWN"
	ErrUnauthorized         = "M_UNAUTHORIZED"
	ErrUserDeactivated      = "M_USER_DEACTIVATED"
	ErrUserInUse            = "M_USER_IN_USE"
	ErrInvalidUsername      = "M_INVALID_USERNAME"
	ErrRoomInUse            = "M_ROOM_IN_USE"
	ErrInvalidRoomState     = "M_INVALID_ROOM_STATE"
	ErrUnsupportedRoomVer   = "M_UNSUPPORTED_ROOM_VERSION"
	ErrIncompatibleRoomVer  = "M_INCOMPATIBLE_ROOM_VERSION"
	ErrBadState             = "M_BAD_STATE"
	ErrGuestAccessForbidden = "M_GUEST_ACCESS_FORBIDDEN"
	ErrMissingParam         = "M_MISSING_PARAM"
	ErrInvalidParam         = "M_INVALID_PARAM"
	ErrTooLarge             = "M_TOO_LARGE"
	ErrExclusive            = "M_EXCLUSIVE"
	ErrUserLocked           = "M_USER_LOCKED"
	ErrUserSuspended        = "M_USER_SUSPENDED"
	ErrWeakPassword         = "M_WEAK_PASSWORD"
	ErrThreepidDenied       = "M_THREEPID_DENIED"
)

// Error is an error with a Matrix errcode and the HTTP status it is sent
// with. Message is shown to the client, so it never carries internal detail.
type Error struct {
	Status  int
	Code    string
	Message string
	// Extra holds additional top-level response keys such as
	// retry_after_ms or soft_logout.
	Extra map[string]any
}

func (e *Error) Error() string { return fmt.Sprintf("%s (%d): %s", e.Code, e.Status, e.Message) }

// With returns a copy of e with one more top-level key in the response.
func (e *Error) With(key string, value any) *Error {
	c := *e
	c.Extra = make(map[string]any, len(e.Extra)+1)
	for k, v := range e.Extra {
		c.Extra[k] = v
	}
	c.Extra[key] = value
	return &c
}

// Errorf returns an *Error with the given status and errcode.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Shorthands for the common cases.

func Forbidden(format string, args ...any) *Error {
	return Errorf(http.StatusForbidden, ErrForbidden, format, args...)
}

func BadJSON(format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, ErrBadJSON, format, args...)
}

func InvalidParam(format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, ErrInvalidParam, format, args...)
}

func MissingParam(format string, args ...any) *Error {
	return Errorf(http.StatusBadRequest, ErrMissingParam, format, args...)
}

func NotFound(format string, args ...any) *Error {
	return Errorf(http.StatusNotFound, ErrNotFound, format, args...)
}
