// Command chappe runs the Chappe homeserver.
//
//	chappe [serve]                 run the server (the default)
//	chappe version                 print the version
//	chappe generate-config         print a commented default configuration
//	chappe user add [--admin] NAME create an account offline
//
// Configuration: the file named by CHAPPE_CONFIG (or --config), then
// CHAPPE_* environment variables; see the README.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"chappe.eu/chappe/internal/clientapi"
	"chappe.eu/chappe/internal/config"
	"chappe.eu/chappe/internal/credentials"
	"chappe.eu/chappe/internal/matrix"
	"chappe.eu/chappe/internal/server"
	"chappe.eu/chappe/internal/store"
)

// Exit statuses.
const (
	exitFailure   = 1
	exitBadConfig = 2 // also bad usage
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(args, stderr)
	case "version":
		fmt.Fprintln(stdout, "chappe", server.Version)
		return 0
	case "generate-config":
		fmt.Fprint(stdout, config.Template)
		return 0
	case "user":
		if len(args) == 0 || args[0] != "add" {
			fmt.Fprintln(stderr, "usage: chappe user add [--admin] [--password P] NAME")
			return exitBadConfig
		}
		return userAdd(args[1:], stdin, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, "usage: chappe [serve | version | generate-config | user add [--admin] NAME]")
		return 0
	}
	fmt.Fprintf(stderr, "chappe: unknown command %q\n", cmd)
	return exitBadConfig
}

// loadConfig parses --config and loads the configuration; a bad one is
// reported naming the key.
func loadConfig(fs *flag.FlagSet, args []string, stderr io.Writer) (config.Config, bool) {
	path := fs.String("config", os.Getenv("CHAPPE_CONFIG"), "configuration file (env CHAPPE_CONFIG)")
	if err := fs.Parse(args); err != nil {
		return config.Config{}, false
	}
	cfg, err := config.Load(*path, os.Getenv)
	if err != nil {
		fmt.Fprintln(stderr, "chappe:", err)
		return cfg, false
	}
	return cfg, true
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func serve(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, ok := loadConfig(fs, args, stderr)
	if !ok {
		return exitBadConfig
	}
	log := newLogger(cfg, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		log.Error("cannot start", "err", err)
		return exitFailure
	}
	log.Info("Chappe started", "version", server.Version, "server_name", cfg.ServerName)
	if err := srv.Run(ctx); err != nil {
		log.Error("stopped with an error", "err", err)
		return exitFailure
	}
	log.Info("stopped")
	return 0
}

func userAdd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("user add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	admin := fs.Bool("admin", false, "make the user a server administrator")
	password := fs.String("password", "", "the password (default: read a line from standard input; empty: generate one)")
	// Flags may come before or after the name.
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	cfg, ok := loadConfig(fs, args, stderr)
	if !ok {
		return exitBadConfig
	}
	if name == "" && fs.NArg() == 1 {
		name = fs.Arg(0)
	}
	if name == "" {
		fmt.Fprintln(stderr, "usage: chappe user add [--admin] [--password P] NAME")
		return exitBadConfig
	}
	name = strings.TrimPrefix(name, "@")
	name, _, _ = strings.Cut(name, ":")
	uid, err := matrix.NewUserID(name, matrix.ServerName(cfg.ServerName))
	if err != nil {
		fmt.Fprintln(stderr, "chappe:", err)
		return exitBadConfig
	}
	pw := *password
	generated := false
	if pw == "" {
		fmt.Fprint(stderr, "Password (empty: generate one): ")
		pw, _ = bufio.NewReader(stdin).ReadString('\n')
		pw = strings.TrimRight(pw, "\r\n")
	}
	if pw == "" {
		pw = credentials.NewToken("")[:20]
		generated = true
	}
	db, err := store.Open(context.Background(), cfg.Database, cfg.DataDir)
	if err != nil {
		fmt.Fprintln(stderr, "chappe:", err)
		return exitFailure
	}
	defer db.Close()
	if err := clientapi.CreateAccount(context.Background(), db, string(uid), pw, *admin); err != nil {
		var me *matrix.Error
		if errors.As(err, &me) {
			fmt.Fprintf(stderr, "chappe: %s: %s\n", uid, me.Message)
		} else {
			fmt.Fprintln(stderr, "chappe:", err)
		}
		return exitFailure
	}
	fmt.Fprintf(stdout, "created %s", uid)
	if *admin {
		fmt.Fprint(stdout, " (administrator)")
	}
	fmt.Fprintln(stdout)
	if generated {
		fmt.Fprintf(stdout, "password: %s\n", pw)
	}
	return 0
}
