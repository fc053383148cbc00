// Package e2e holds end-to-end tests that run real distrod processes on
// loopback and drive them with real clients (plain HTTP and the published
// Nacos Go SDKs). They poll with deadlines and never sleep for a fixed time.
package e2e
