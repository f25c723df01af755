// Package server wires one Chappe process together: storage, the client
// API, the federation listener and metrics, and runs them until the
// context ends, then shuts down gracefully. cmd/chappe and the tests both
// start Chappe through it.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"chappe.eu/chappe/internal/clientapi"
	"chappe.eu/chappe/internal/config"
	"chappe.eu/chappe/internal/e2ee"
	"chappe.eu/chappe/internal/httpapi"
	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/media"
	"chappe.eu/chappe/internal/metrics"
	"chappe.eu/chappe/internal/presence"
	"chappe.eu/chappe/internal/rooms"
	"chappe.eu/chappe/internal/store"
	"chappe.eu/chappe/internal/syncapi"
	"chappe.eu/chappe/internal/typing"
)

// Version is the release of this binary, set at build time with
// -ldflags "-X chappe.eu/chappe/internal/server.Version=...".
var Version = "0.1.0-dev"

// shutdownTimeout bounds how long in-flight requests may take to finish
// after SIGTERM.
const shutdownTimeout = 20 * time.Second

// Server is one running Chappe process.
type Server struct {
	cfg      config.Config
	log      *slog.Logger
	DB       *store.DB
	api      *clientapi.API
	rooms    *rooms.Service
	notifier *syncapi.Notifier
	sync     *syncapi.API
	e2ee     *e2ee.API
	metrics  *metrics.Registry
	typing   *typing.Tracker
	presence *presence.Service
	// Media is the media repository; the rooms code purges the media of
	// redacted events through it.
	Media *media.Repo

	listeners []net.Listener
	servers   []*http.Server
	clientURL string
}

// New opens storage (applying migrations) and builds the handlers. Nothing
// listens until Start.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (*Server, error) {
	db, err := store.Open(ctx, cfg.Database, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, DB: db, metrics: metrics.New()}
	pos, err := db.StreamPos(ctx)
	if err != nil {
		db.Close()
		return nil, err
	}
	s.notifier = syncapi.NewNotifier(pos, func(ctx context.Context, roomID string) ([]string, error) {
		return db.RoomMembers(ctx, roomID, "join", "invite")
	})
	if s.rooms, err = rooms.New(ctx, db, matrix.ServerName(cfg.ServerName), s.notifier, log); err != nil {
		db.Close()
		return nil, err
	}
	s.typing = typing.New(s.notifier)
	s.presence = presence.New(db, s.notifier, log)
	s.api = clientapi.New(&s.cfg, db, s.rooms, s.notifier, s.typing, s.presence, log)
	s.sync = syncapi.New(&s.cfg, db, s.rooms, s.notifier, s.api, s.typing, s.presence, log)
	s.e2ee = e2ee.New(&s.cfg, db, s.notifier, s.api, log)
	if s.Media, err = media.New(&s.cfg, db, s.api, log); err != nil {
		s.presence.Close()
		db.Close()
		return nil, err
	}
	return s, nil
}

// Start binds the listeners and serves in the background.
func (s *Server) Start() error {
	rt := httpapi.NewRouter(s.log)
	s.api.Register(rt)
	s.sync.Register(rt)
	s.e2ee.Register(rt)
	s.Media.Register(rt)
	if s.cfg.Metrics.Enabled && s.cfg.Metrics.Addr == "" {
		rt.HandleHTTP(s.cfg.Metrics.Path, s.metrics)
	}
	client := httpapi.Recover(s.log, httpapi.CORS(s.metrics.Middleware(rt)))
	ln, err := s.listen("client", s.cfg.Client.Addr, client, nil)
	if err != nil {
		return err
	}
	s.clientURL = "http://" + ln.Addr().String()

	if s.cfg.Metrics.Enabled && s.cfg.Metrics.Addr != "" {
		mux := http.NewServeMux()
		mux.Handle("GET "+s.cfg.Metrics.Path, s.metrics)
		if _, err := s.listen("metrics", s.cfg.Metrics.Addr, mux, nil); err != nil {
			return err
		}
	}
	if s.cfg.Federation.Addr != "" {
		cert, err := tls.LoadX509KeyPair(s.cfg.Federation.TLSCert, s.cfg.Federation.TLSKey)
		if err != nil {
			return fmt.Errorf("federation TLS: %w", err)
		}
		tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if _, err := s.listen("federation", s.cfg.Federation.Addr, s.federationHandler(), tlsCfg); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) listen(name, addr string, h http.Handler, tlsCfg *tls.Config) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s listener: %w", name, err)
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.listeners = append(s.listeners, ln)
	s.servers = append(s.servers, srv)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("listener stopped", "listener", name, "err", err)
		}
	}()
	s.log.Info("listening", "listener", name, "addr", ln.Addr().String())
	return ln, nil
}

// federationHandler answers the federation listener. Federation itself is
// a later piece of work; until then it identifies the server and answers
// everything else with M_UNRECOGNIZED.
func (s *Server) federationHandler() http.Handler {
	rt := httpapi.NewRouter(s.log)
	rt.Handle("GET", "/_matrix/federation/v1/version", func(w http.ResponseWriter, r *http.Request) error {
		return httpapi.WriteJSON(w, http.StatusOK, map[string]any{"server": map[string]string{"name": "Chappe", "version": Version}})
	})
	return httpapi.Recover(s.log, rt)
}

// ClientURL is the base URL of the client listener once started.
func (s *Server) ClientURL() string { return s.clientURL }

// Run starts the server and blocks until ctx ends, then shuts down.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Start(); err != nil {
		s.Close()
		return err
	}
	<-ctx.Done()
	s.log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	return s.Shutdown(sctx)
}

// Shutdown stops accepting requests, lets in-flight ones finish (until
// ctx ends) and closes storage. Whatever was acknowledged is committed
// already: every store method commits before the handler answers.
func (s *Server) Shutdown(ctx context.Context) error {
	var errs []error
	s.notifier.Close() // long-polls answer now rather than at their timeout
	for _, srv := range s.servers {
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	s.api.Close()
	s.Media.Close()
	s.presence.Close()
	errs = append(errs, s.DB.Close())
	return errors.Join(errs...)
}

// Close stops everything at once.
func (s *Server) Close() error {
	for _, srv := range s.servers {
		srv.Close()
	}
	s.api.Close()
	s.Media.Close()
	s.presence.Close()
	return s.DB.Close()
}
