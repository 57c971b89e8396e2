// Package auth is the replicated authentication and role-based access
// control state of a MetaStore member, with etcd's semantics: users (a
// bcrypt hash made by the server before proposing, or no password), roles
// holding key, range and prefix permissions (read, write, readwrite), the
// root user and role, the enabled flag and the auth revision that every
// change bumps.
//
// It is part of the deterministic state machine: Apply runs committed
// Auth* requests into an engine batch under the "u/" prefix, so restarts and
// raft snapshots keep the state, while HashKV (the key-value history only)
// is untouched. Checks (CheckRange, CheckWrite, CheckAdmin) read the state
// the replica has applied.
//
// Simple tokens are assigned through raft (so every member knows them) and
// live in memory only, as etcd's do: a restart forgets them and clients
// authenticate again. Their time-to-live is the server's business.
package auth
