package server

import (
	"io"
	"log/slog"

	"github.com/distrod/distrod/internal/config"
)

// NewLogger returns the process logger configured by cfg (level and text or
// JSON format), tagged with the node address.
func NewLogger(w io.Writer, cfg config.Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.SlogLevel()}
	var h slog.Handler
	if cfg.LogFormat == config.LogFormatJSON {
		h = slog.NewJSONHandler(w, opts)
	} else {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(h).With("node", cfg.SelfAddr())
}
