package server

// MemberContext is the member-table record of a member that `snapshot
// restore` puts into a new cluster: its name and peer URLs, as a member
// publishes them (see Attributes). Its client URLs are published by the
// member itself once it serves.
func MemberContext(name string, peerURLs []string) []byte {
	return Attributes{Name: name, PeerURLs: peerURLs}.encode()
}
