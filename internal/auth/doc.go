// Package auth is distrod's client authentication, compatible with Nacos's
// default auth plugin: access tokens, users, roles and permissions, and
// the decision whether an identity may read or write a resource.
//
// Tokens have Nacos's format, so a Java Nacos server with the same secret
// accepts ours and the other way round: a JWT whose header is exactly
// {"alg":"HS256"} (HS384 or HS512 for a 48- or 64-byte secret), whose
// payload is {"sub":username,"exp":unix seconds}, signed with the
// base64-decoded secret. Verification needs only the secret, not the user
// store, as in Nacos.
//
// Decisions follow Nacos's NacosRoleServiceImpl: ROLE_ADMIN may do
// anything; other roles need a permission whose resource pattern
// ("namespaceId:group:naming/service", "*" matching any run of characters)
// matches the request's resource and whose action ("r", "w", "rw")
// contains the requested one. The public namespace is written as the empty
// string (Nacos issue 10347); distrod also accepts "public".
//
// Errors are the sentinel values of this package; Message returns the text
// Nacos puts on the wire ("user not found!", "token expired!", ...).
//
// Store keeps users (bcrypt hashes), role bindings and permissions in
// memory and in one JSON file, rewritten atomically (temp file, fsync,
// rename) on every change. Each node has its own file: nothing here is
// replicated.
//
// The package reads no clock: callers pass now.
package auth
