package config

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
)

// Member is one entry of --initial-cluster.
type Member struct {
	Name     string
	PeerURLs []string // in the order given
	ID       uint64   // MemberID(Name, PeerURLs, token)
}

// ParseInitialCluster parses "a=http://h1:2380,b=http://h2:2380". A name may
// appear several times to give a member several URLs. Members come back in
// order of first appearance, with IDs derived from token.
func ParseInitialCluster(s, token string) ([]Member, error) {
	var members []Member
	index := map[string]int{}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, u, ok := strings.Cut(part, "=")
		name, u = strings.TrimSpace(name), strings.TrimSpace(u)
		if !ok || name == "" || u == "" {
			return nil, fmt.Errorf("initial-cluster: %q is not name=url", part)
		}
		i, seen := index[name]
		if !seen {
			i = len(members)
			index[name] = i
			members = append(members, Member{Name: name})
		}
		members[i].PeerURLs = append(members[i].PeerURLs, u)
	}
	if len(members) == 0 {
		return nil, fmt.Errorf("initial-cluster is empty")
	}
	for i := range members {
		members[i].ID = MemberID(members[i].Name, members[i].PeerURLs, token)
	}
	return members, nil
}

// MemberID derives a member's raft ID the way etcd does, from what every
// member of a new cluster knows alike: the first 8 bytes, big-endian, of
// SHA-256 over name, NUL, each peer URL (sorted, exactly as written) followed
// by NUL, then the cluster token. The token keeps two clusters started on
// the same addresses from sharing IDs. It never returns 0, which raft
// reserves for "none".
func MemberID(name string, peerURLs []string, token string) uint64 {
	urls := slices.Clone(peerURLs)
	slices.Sort(urls)
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{0})
	for _, u := range urls {
		h.Write([]byte(u))
		h.Write([]byte{0})
	}
	h.Write([]byte(token))
	id := binary.BigEndian.Uint64(h.Sum(nil)[:8])
	if id == 0 {
		id = 1
	}
	return id
}

// ClusterID derives the cluster's ID from its initial members' IDs: the
// first 8 bytes of SHA-256 over the sorted IDs, each 8 bytes big-endian.
func ClusterID(memberIDs []uint64) uint64 {
	ids := slices.Clone(memberIDs)
	slices.Sort(ids)
	h := sha256.New()
	var b [8]byte
	for _, id := range ids {
		binary.BigEndian.PutUint64(b[:], id)
		h.Write(b[:])
	}
	return binary.BigEndian.Uint64(h.Sum(nil)[:8])
}

// Members parses InitialCluster with InitialClusterToken.
func (c *Config) Members() ([]Member, error) {
	return ParseInitialCluster(c.InitialCluster, c.InitialClusterToken)
}

// MemberID is this member's ID as --initial-cluster derives it. A member
// added later by a membership change is given its ID by the cluster instead.
func (c *Config) MemberID() uint64 {
	return MemberID(c.Name, c.InitialAdvertisePeerURLs, c.InitialClusterToken)
}
