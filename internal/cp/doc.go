// Package cp is distrod's durable control plane: a replicated state
// machine on Raft (github.com/hashicorp/raft) holding the data an operator
// writes and expects to keep — namespaces, service settings, switches and
// instance overrides — as opposed to the ephemeral instances that Distro
// replicates (AP).
//
// The state machine (fsm.go) is pure and deterministic: it applies typed
// commands, answers reads from its applied state and snapshots to JSON.
// Node (node.go) runs Raft around it with a bbolt log under the data
// directory; writes go to the leader, forwarded from any node over the
// Raft port, and fail fast with ErrNoLeader when no leader can be reached
// within the write timeout. Reads are served locally from the applied
// state, so a node cut off from the majority still answers them.
package cp
