package main

import "metastore/net/config"

// peerClusterID is the cluster ID the transport checks peers against: the
// one derived from --initial-cluster for a member of a new (or restored)
// cluster, 0 (unchecked: the token vouches) for a member that joined, which
// cannot derive it from its flags.
func peerClusterID(join bool, ids []uint64) uint64 {
	if join {
		return 0
	}
	return config.ClusterID(ids)
}
