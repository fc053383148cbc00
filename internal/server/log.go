package server

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/distrod/distrod/internal/config"
)

// logLevel is the level of the loggers NewLogger returns; PUT
// /nacos/v1/ns/operator/log changes it at run time.
var logLevel = new(slog.LevelVar)

// NewLogger returns the process logger configured by cfg (level and text or
// JSON format), tagged with the node address.
func NewLogger(w io.Writer, cfg config.Config) *slog.Logger {
	logLevel.Set(cfg.SlogLevel())
	opts := &slog.HandlerOptions{Level: logLevel}
	var h slog.Handler
	if cfg.LogFormat == config.LogFormatJSON {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(h).With("node", cfg.SelfAddr())
}

// setLogLevel sets the process log level from a logback level name, as
// Nacos's PUT /operator/log takes them.
func setLogLevel(name string) error {
	var l slog.Level
	switch strings.ToUpper(strings.TrimSpace(name)) {
	case "ALL", "TRACE", "DEBUG":
		l = slog.LevelDebug
	case "INFO":
		l = slog.LevelInfo
	case "WARN":
		l = slog.LevelWarn
	case "ERROR", "OFF":
		l = slog.LevelError
	default:
		return fmt.Errorf("unknown logLevel %q: use TRACE, DEBUG, INFO, WARN, ERROR or OFF", name)
	}
	logLevel.Set(l)
	return nil
}
