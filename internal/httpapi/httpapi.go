// Package httpapi is the HTTP plumbing shared by Chappe's APIs: handlers
// that return errors, the one place where errors become the spec's JSON
// error responses, capped and checked JSON decoding, a router that
// answers unknown endpoints and wrong methods with M_UNRECOGNIZED, and
// CORS.
package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"chappe.eu/chappe/internal/matrix"
)

// HandlerFunc is an HTTP handler that returns an error instead of writing
// it: a *matrix.Error is sent to the client as is, any other error is
// logged and answered with a 500 M_UNKNOWN that reveals nothing.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// WriteJSON writes v as a JSON response with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(data)
	return nil
}

// WriteError writes err as the spec's error response.
func WriteError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var me *matrix.Error
	if !errors.As(err, &me) {
		if r.Context().Err() != nil {
			// The client went away; nobody is listening for the answer.
			return
		}
		log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		me = &matrix.Error{Status: http.StatusInternalServerError, Code: matrix.ErrUnknown, Message: "Internal server error"}
	}
	body := make(map[string]any, 2+len(me.Extra))
	for k, v := range me.Extra {
		body[k] = v
	}
	if ms, ok := me.Extra["retry_after_ms"].(int64); ok && me.Status == http.StatusTooManyRequests {
		// Spec ("Rate limiting"): servers SHOULD send Retry-After, in
		// whole seconds, with every 429; retry_after_ms is deprecated.
		w.Header().Set("Retry-After", strconv.FormatInt((ms+999)/1000, 10))
	}
	if me.Code != "" { // a UIA challenge has no errcode
		body["errcode"] = me.Code
		body["error"] = me.Message
	}
	_ = WriteJSON(w, me.Status, body)
}

// Router wraps http.ServeMux: routes are registered per method, and
// requests that match no route, or a route with another method, get the
// spec's M_UNRECOGNIZED (404 and 405) instead of ServeMux's plain text.
//
// Each path is registered with ServeMux once, without a method, and the
// method is dispatched here: method-qualified patterns would make
// "GET /x/{id}" and "POST /x/new" conflict in ServeMux.
type Router struct {
	mux    *http.ServeMux
	log    *slog.Logger
	routes map[string]map[string]HandlerFunc // path pattern -> method -> handler
}

// NewRouter returns an empty router.
func NewRouter(log *slog.Logger) *Router {
	rt := &Router{mux: http.NewServeMux(), log: log, routes: map[string]map[string]HandlerFunc{}}
	rt.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, r, log, matrix.Errorf(http.StatusNotFound, matrix.ErrUnrecognized, "Unrecognized request"))
	})
	return rt
}

// Handle registers h for method and path (a ServeMux pattern without the
// method). Routes must be registered before serving.
func (rt *Router) Handle(method, path string, h HandlerFunc) {
	methods := rt.routes[path]
	if methods == nil {
		methods = map[string]HandlerFunc{}
		rt.routes[path] = methods
		rt.mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			h := methods[r.Method]
			if h == nil && r.Method == http.MethodHead {
				h = methods[http.MethodGet]
			}
			if h == nil {
				allow := make([]string, 0, len(methods))
				for m := range methods {
					allow = append(allow, m)
				}
				slices.Sort(allow)
				w.Header().Set("Allow", strings.Join(allow, ", "))
				WriteError(w, r, rt.log, matrix.Errorf(http.StatusMethodNotAllowed, matrix.ErrUnrecognized, "Method not allowed"))
				return
			}
			if err := h(w, r); err != nil {
				WriteError(w, r, rt.log, err)
			}
		})
	}
	methods[method] = h
}

// HandleHTTP registers a plain http.Handler for every method of path.
func (rt *Router) HandleHTTP(path string, h http.Handler) { rt.mux.Handle(path, h) }

// ServeHTTP implements http.Handler.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) { rt.mux.ServeHTTP(w, r) }

// CORS adds the headers the client-server API asks for ("Web Browser
// Clients") to every response and answers preflight OPTIONS requests.
func CORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "X-Requested-With, Content-Type, Authorization")
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusOK)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Recover turns a panic in a handler into a logged 500, so one bad
// request cannot take the process down.
func Recover(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.Error("panic in handler", "method", r.Method, "path", r.URL.Path, "panic", v)
				WriteError(w, r, log, matrix.Errorf(http.StatusInternalServerError, matrix.ErrUnknown, "Internal server error"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}
