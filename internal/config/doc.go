// Package config defines distrod's single Config, its defaults, how it is
// loaded and how it is validated.
//
// All defaults live in one place, DefaultConfig. Load layers the sources in
// increasing precedence:
//
//	defaults < YAML file (-config or DISTROD_CONFIG) < environment < flags
//
// Every field has a kebab-case key used in the YAML file and as the flag
// name (-sync-delay), and an environment variable DISTROD_<KEY> in upper
// snake case (DISTROD_SYNC_DELAY). The variables Nacos Docker users know are
// honoured too: MODE, NACOS_SERVERS, NACOS_APPLICATION_PORT, NACOS_SERVER_IP,
// NACOS_HOME, PREFER_HOST_MODE (hostmode.go), SERVER_SERVLET_CONTEXTPATH and the auth variables
// NACOS_AUTH_ENABLE, NACOS_AUTH_TOKEN, NACOS_AUTH_TOKEN_EXPIRE_SECONDS (a
// bare number of seconds), NACOS_AUTH_IDENTITY_KEY and
// NACOS_AUTH_IDENTITY_VALUE, and for TLS SERVER_SSL_CERTIFICATE,
// SERVER_SSL_CERTIFICATE_PRIVATE_KEY and the Nacos properties
// nacos.remote.server.rpc.tls.{certChainFile,certPrivateKey,compatibility}
// in environment form (NACOS_REMOTE_SERVER_RPC_TLS_CERTCHAINFILE, ...);
// when both a Nacos name and a DISTROD_ name set the same field, the
// DISTROD_ name wins. PrintUsage lists them all. Durations are Go
// duration strings ("10ms", "5s") everywhere.
//
// In cluster mode with neither explicit members nor a DNS name, Load reads
// the member list from Home/conf/cluster.conf in Nacos's format (see
// memberaddr.ParseClusterConf). Normalize canonicalises addresses (package
// memberaddr) and, as Nacos does, adds this node to its own member list;
// Validate rejects contradictions with a message that says what to change. Errors wrap the sentinel errors of this
// package (all prefixed "config: ") and are checked with errors.Is.
//
// Cluster mode needs a shared secret (ClusterSecret, or ClusterSecretFile,
// which Load reads) unless ClusterInsecure says otherwise; see
// docs/security-cluster.md.
//
// The package touches the file system only in Load and the network only to
// pick the default advertised IP in DefaultConfig.
package config
