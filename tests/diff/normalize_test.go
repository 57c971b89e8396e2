package diff

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strconv"
	"strings"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// normalizer renders responses as text both servers must agree on:
// revisions relative to a base, lease and member IDs renamed in order of
// appearance, cluster IDs and raft terms dropped.
type normalizer struct {
	base    int64
	leases  map[int64]string
	members map[uint64]string
}

func newNormalizer(base int64) *normalizer {
	return &normalizer{base: base, leases: map[int64]string{}, members: map[uint64]string{}}
}

func (n *normalizer) rev(r int64) string {
	if r == 0 {
		return "0"
	}
	return fmt.Sprintf("r%+d", r-n.base)
}

func (n *normalizer) lease(id int64) string {
	if id == 0 {
		return "0"
	}
	name, ok := n.leases[id]
	if !ok {
		name = fmt.Sprintf("L%d", len(n.leases)+1)
		n.leases[id] = name
	}
	return name
}

func (n *normalizer) member(id uint64) string {
	name, ok := n.members[id]
	if !ok {
		name = fmt.Sprintf("M%d", len(n.members)+1)
		n.members[id] = name
	}
	return name
}

// errText is an error as gRPC code and message. clientv3 turns known etcd
// errors into rpctypes.EtcdError, which carries the same pair.
func errText(err error) string {
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		return fmt.Sprintf("ERR %s %q", ee.Code(), ee.Error())
	}
	st := status.Convert(err)
	return fmt.Sprintf("ERR %s %q", st.Code(), st.Message())
}

// bytesText quotes short byte strings (escaping invalid UTF-8) and
// summarizes long ones by length and hash.
func bytesText(b []byte) string {
	if len(b) <= 64 {
		return strconv.Quote(string(b))
	}
	return fmt.Sprintf("<%d bytes sha256:%x>", len(b), sha256.Sum256(b))
}

// response turns the clientv3 response types into their protobufs. The
// lease ones embed *pb.ResponseHeader, which makes them proto.Messages of
// the wrong kind: they must be matched before proto.Message.
func response(v any) proto.Message {
	switch r := v.(type) {
	case *clientv3.GetResponse:
		return (*pb.RangeResponse)(r)
	case *clientv3.PutResponse:
		return (*pb.PutResponse)(r)
	case *clientv3.DeleteResponse:
		return (*pb.DeleteRangeResponse)(r)
	case *clientv3.TxnResponse:
		return (*pb.TxnResponse)(r)
	case *clientv3.CompactResponse:
		return (*pb.CompactionResponse)(r)
	case *clientv3.LeaseRevokeResponse:
		return (*pb.LeaseRevokeResponse)(r)
	case *clientv3.LeaseGrantResponse:
		return &pb.LeaseGrantResponse{Header: r.ResponseHeader, ID: int64(r.ID), TTL: r.TTL, Error: r.Error}
	case *clientv3.LeaseKeepAliveResponse:
		return &pb.LeaseKeepAliveResponse{Header: r.ResponseHeader, ID: int64(r.ID), TTL: r.TTL}
	case *clientv3.LeaseTimeToLiveResponse:
		return &pb.LeaseTimeToLiveResponse{Header: r.ResponseHeader, ID: int64(r.ID), TTL: r.TTL,
			GrantedTTL: r.GrantedTTL, Keys: r.Keys}
	case *clientv3.LeaseLeasesResponse:
		out := &pb.LeaseLeasesResponse{Header: r.ResponseHeader}
		for _, l := range r.Leases {
			out.Leases = append(out.Leases, &pb.LeaseStatus{ID: int64(l.ID)})
		}
		return out
	case proto.Message:
		return r
	}
	panic(fmt.Sprintf("diff: no protobuf for %T", v))
}

// message renders m's set fields in field-number order.
func (n *normalizer) message(m protoreflect.Message) string {
	var parts []string
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if !m.Has(fd) {
			continue
		}
		name := string(fd.Name())
		if name == "cluster_id" || name == "raft_term" {
			continue
		}
		v := m.Get(fd)
		var s string
		switch {
		case fd.IsList():
			l := v.List()
			items := make([]string, l.Len())
			for j := range items {
				items[j] = n.value(m, fd, l.Get(j))
			}
			s = "[" + strings.Join(items, " ") + "]"
		default:
			s = n.value(m, fd, v)
		}
		parts = append(parts, name+":"+s)
	}
	return "{" + strings.Join(parts, " ") + "}"
}

func (n *normalizer) value(parent protoreflect.Message, fd protoreflect.FieldDescriptor, v protoreflect.Value) string {
	switch fd.Kind() {
	case protoreflect.MessageKind:
		return n.message(v.Message())
	case protoreflect.BytesKind:
		return bytesText(v.Bytes())
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return string(ev.Name())
		}
		return strconv.Itoa(int(v.Enum()))
	}
	switch fd.Name() {
	case "revision", "create_revision", "mod_revision", "compact_revision":
		return n.rev(v.Int())
	case "member_id":
		return n.member(v.Uint())
	case "lease", "ID":
		return n.lease(v.Int())
	case "TTL":
		// The remaining TTL of a lease depends on when the question is
		// asked: granted or one second less are the same answer.
		if parent.Descriptor().Name() == "LeaseTimeToLiveResponse" {
			granted := parent.Get(parent.Descriptor().Fields().ByName("grantedTTL")).Int()
			if t := v.Int(); t > 0 && t >= granted-1 && t <= granted {
				return "~granted"
			}
		}
	}
	return fmt.Sprint(v.Interface())
}
