package server

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/distrod/distrod/internal/auth"
	"github.com/distrod/distrod/internal/config"
)

// newGuard builds the auth guard from the configuration and seeds the
// first admin from AuthAdminPassword when no admin exists yet. With auth
// off the guard lets everything through but still serves the user API, so
// users can be prepared before auth is turned on.
func newGuard(cfg config.Config, o auth.Options, log *slog.Logger) (*auth.Guard, error) {
	g, err := auth.NewGuard(o)
	if err != nil {
		return nil, fmt.Errorf("server: auth: %w", err)
	}
	if cfg.AuthAdminPassword != "" {
		switch err := g.Store().CreateAdmin(cfg.AuthAdminPassword); {
		case err == nil:
			log.Info("admin user created from auth-admin-password", "username", auth.AdminUser, "file", cfg.AuthUserFilePath())
		case errors.Is(err, auth.ErrAdminExists):
			log.Info("auth-admin-password ignored: an admin already exists", "file", cfg.AuthUserFilePath())
		default:
			return nil, fmt.Errorf("server: auth: seed admin: %w", err)
		}
	}
	if !cfg.AuthEnabled {
		return g, nil
	}
	log.Info("client authentication enabled", "token_ttl", cfg.AuthTokenTTL, "user_file", cfg.AuthUserFilePath(),
		"identity_header", cfg.AuthIdentityKey != "")
	if !g.Store().HasAdmin() {
		log.Warn("auth is enabled but no admin exists: create one with POST " + cfg.ContextPath +
			"/v1/auth/users/admin?password=..., or start with DISTROD_AUTH_ADMIN_PASSWORD")
	}
	if cfg.Mode == config.ModeCluster {
		log.Info("auth users, roles and permissions are kept per node: create them on every node")
	}
	return g, nil
}
