// Package ctl implements the operator subcommands of the distrod binary:
//
//	distrod health [-live] [-addr host:port]     probe this node (container HEALTHCHECK)
//	distrod ctl [flags] status|members|services|instances|enable|disable ...
//
// Both talk to a node over its HTTP port only, as any Nacos client would:
// ctl uses the open API (/nacos/v1/ns/...), Nacos's cluster member list
// (/nacos/v1/core/cluster/nodes) and /distrod/status. With a username and
// password ctl logs in first (/nacos/v1/auth/users/login) and sends the
// access token with every request, so it works on a node with client
// authentication on, within the permissions of that user (see
// docs/auth.md).
//
// health exists because a FROM scratch container image has no shell and no
// curl: the binary probes itself. It reads the port and context path from
// the same environment the server does (NACOS_APPLICATION_PORT,
// DISTROD_PORT, SERVER_SERVLET_CONTEXTPATH, DISTROD_CONTEXT_PATH) and exits
// 0 when the probe answers 200, 1 otherwise.
package ctl
