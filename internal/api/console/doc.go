// Package console is distrod's web console: a few static pages (plain
// HTML, CSS and ES-module JavaScript, embedded with go:embed, no build
// step) and the small JSON API they read.
//
// Paths, with the context path cp (default "/nacos"):
//
//	cp/                        the single page (index.html)
//	cp/console-ui/...          its script and style sheet
//	/distrod/console/info      {authEnabled, contextPath, self}: open
//	/distrod/console/namespaces
//	/distrod/console/services  ?namespaceId&name&group&pageNo&pageSize
//	/distrod/console/service   ?namespaceId&groupName&serviceName
//	/distrod/console/subscribers ?namespaceId&groupName&serviceName[&local=true]
//	                           subscribers on every member (each asked with
//	                           the caller's credentials), or on this one
//	/distrod/console/cluster   every member's /distrod/status, fetched by this node
//
// None of these clash with the open API, which lives under cp/v1 and cp/v2.
// The console API only reads: every change the pages make (enable, weight,
// metadata, deregister) goes through the open API's write endpoints
// (PATCH and DELETE cp/v1/ns/instance), so forwarding to the owner and the
// auth rules are exactly those of any client.
//
// With client auth on, the console API needs ROLE_ADMIN, like the Nacos
// console's own management endpoints; the page logs in with
// POST cp/v1/auth/users/login, keeps the accessToken in sessionStorage and
// sends it as the accessToken parameter.
//
// Instances registered by 2.x SDKs over gRPC belong to their connection:
// the store refuses changes to them from HTTP, so the page shows their
// actions disabled and says why.
//
// Reads are paged and filtered on the server (10,000 services render one
// page at a time); the service and cluster pages poll every few seconds.
package console
