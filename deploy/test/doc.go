// Package deploytest checks what deploy/ ships: the Helm chart renders (with
// Helm's own engine) into objects that decode strictly into the Kubernetes
// API types, whose pods' environment gives distrod the membership expected;
// the plain manifests are the chart's rendering; the compose files configure
// a cluster that config.Load accepts, scraped by the shipped prometheus.yml.
//
// It is a separate Go module so that Helm and the Kubernetes API types stay
// out of distrod's own go.mod; scripts/test.sh runs it. Regenerate the plain
// manifests with `go test ./deploy/test -run TestPlainManifests -update`
// from this directory's module.
package deploytest
