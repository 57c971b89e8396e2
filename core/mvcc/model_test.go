package mvcc

// A deliberately plain model of etcd's MVCC semantics for the rapid test:
// the whole history as a map of key -> list of versions, nothing physically
// compacted, every read a linear scan. It shares no code with the store.

import (
	"sort"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

type mVersion struct {
	rev, sub                 int64 // position in history
	dead                     bool  // a deletion
	value                    string
	create, version, leaseID int64
}

type model struct {
	rev, compacted int64
	hist           map[string][]mVersion
	leases         map[int64][2]int64 // id -> ttl, remaining
	done           map[uint64]bool    // applied request IDs
	// during a write:
	nextSub int64
	events  []*mvccpb.Event
}

func newModel() *model {
	return &model{rev: 1, hist: map[string][]mVersion{}, leases: map[int64][2]int64{}, done: map[uint64]bool{}}
}

// lookup returns the version of key visible at rev.
func (m *model) lookup(key string, rev int64) (mVersion, bool) {
	var found mVersion
	ok := false
	for _, v := range m.hist[key] {
		if v.rev <= rev {
			found, ok = v, true
		}
	}
	if !ok || found.dead {
		return mVersion{}, false
	}
	return found, true
}

func (m *model) kvOf(key string, v mVersion) *mvccpb.KeyValue {
	kv := &mvccpb.KeyValue{Key: []byte(key), CreateRevision: v.create, ModRevision: v.rev, Version: v.version, Lease: v.leaseID}
	if v.value != "" {
		kv.Value = []byte(v.value)
	}
	return kv
}

// covers says whether key is in the request span (key, end) etcd-style.
func covers(key, from, end string) bool {
	if end == "" {
		return key == from
	}
	if end == "\x00" {
		return key >= from
	}
	return key >= from && key < end
}

func (m *model) liveKeys(from, end string, rev int64) []string {
	var out []string
	for k := range m.hist {
		if !covers(k, from, end) {
			continue
		}
		if _, ok := m.lookup(k, rev); ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func (m *model) rangeOp(r *pb.RangeRequest, cur int64) (*pb.RangeResponse, error) {
	at := r.Revision
	if at > cur {
		return nil, ErrFutureRev
	}
	if at <= 0 {
		at = cur
	}
	if at < m.compacted {
		return nil, ErrCompacted
	}
	keys := m.liveKeys(string(r.Key), string(r.RangeEnd), at)
	resp := &pb.RangeResponse{Header: &pb.ResponseHeader{Revision: cur}, Count: int64(len(keys))}
	if r.CountOnly {
		return resp, nil
	}
	filters := r.MinModRevision != 0 || r.MaxModRevision != 0 || r.MinCreateRevision != 0 || r.MaxCreateRevision != 0
	natural := r.SortOrder == pb.RangeRequest_NONE || (r.SortTarget == pb.RangeRequest_KEY && r.SortOrder == pb.RangeRequest_ASCEND)
	if natural && !filters && r.Limit > 0 && int64(len(keys)) > r.Limit+1 {
		keys = keys[:r.Limit+1]
	}
	var kvs []*mvccpb.KeyValue
	for _, k := range keys {
		v, _ := m.lookup(k, at)
		if r.MaxModRevision != 0 && v.rev > r.MaxModRevision {
			continue
		}
		if r.MinModRevision != 0 && v.rev < r.MinModRevision {
			continue
		}
		if r.MaxCreateRevision != 0 && v.create > r.MaxCreateRevision {
			continue
		}
		if r.MinCreateRevision != 0 && v.create < r.MinCreateRevision {
			continue
		}
		kvs = append(kvs, m.kvOf(k, v))
	}
	order := r.SortOrder
	if order == pb.RangeRequest_NONE && r.SortTarget != pb.RangeRequest_KEY {
		order = pb.RangeRequest_ASCEND
	}
	if !(order == pb.RangeRequest_NONE || (r.SortTarget == pb.RangeRequest_KEY && order == pb.RangeRequest_ASCEND)) {
		field := func(kv *mvccpb.KeyValue) (int64, string) {
			switch r.SortTarget {
			case pb.RangeRequest_VERSION:
				return kv.Version, ""
			case pb.RangeRequest_CREATE:
				return kv.CreateRevision, ""
			case pb.RangeRequest_MOD:
				return kv.ModRevision, ""
			case pb.RangeRequest_VALUE:
				return 0, string(kv.Value)
			}
			return 0, string(kv.Key)
		}
		sort.SliceStable(kvs, func(i, j int) bool {
			a, as := field(kvs[i])
			b, bs := field(kvs[j])
			if order == pb.RangeRequest_DESCEND {
				a, as, b, bs = b, bs, a, as
			}
			return a < b || (a == b && as < bs)
		})
	}
	if r.Limit > 0 && int64(len(kvs)) > r.Limit {
		kvs = kvs[:r.Limit]
		resp.More = true
	}
	for _, kv := range kvs {
		if r.KeysOnly {
			kv.Value = nil
			if r.SortTarget != pb.RangeRequest_VALUE {
				kv.Lease = 0
			}
		}
	}
	resp.Kvs = kvs
	return resp, nil
}

// readRev is what reads inside the current write see.
func (m *model) readRev() int64 {
	if m.nextSub > 0 {
		return m.rev + 1
	}
	return m.rev
}

func (m *model) write(key string, v mVersion) {
	v.rev, v.sub = m.rev+1, m.nextSub
	m.nextSub++
	m.hist[key] = append(m.hist[key], v)
}

func (m *model) putOp(p *pb.PutRequest) *pb.PutResponse {
	key := string(p.Key)
	prev, had := m.lookup(key, m.readRev())
	nv := mVersion{value: string(p.Value), create: m.rev + 1, version: 1, leaseID: p.Lease}
	var prevKV *mvccpb.KeyValue
	if had {
		prevKV = m.kvOf(key, prev)
		nv.create, nv.version = prev.create, prev.version+1
		if p.IgnoreValue {
			nv.value = prev.value
		}
		if p.IgnoreLease {
			nv.leaseID = prev.leaseID
		}
	}
	m.write(key, nv)
	ev := &mvccpb.Event{Type: mvccpb.PUT, Kv: m.kvOf(key, m.hist[key][len(m.hist[key])-1]), PrevKv: prevKV}
	m.events = append(m.events, ev)
	resp := &pb.PutResponse{Header: &pb.ResponseHeader{Revision: m.rev + 1}}
	if p.PrevKv {
		resp.PrevKv = prevKV
	}
	return resp
}

func (m *model) deleteOp(d *pb.DeleteRangeRequest) *pb.DeleteRangeResponse {
	at := m.readRev()
	keys := m.liveKeys(string(d.Key), string(d.RangeEnd), at)
	resp := &pb.DeleteRangeResponse{Deleted: int64(len(keys))}
	for _, k := range keys {
		prev, _ := m.lookup(k, at)
		if d.PrevKv {
			resp.PrevKvs = append(resp.PrevKvs, m.kvOf(k, prev))
		}
		m.write(k, mVersion{dead: true})
		m.events = append(m.events, &mvccpb.Event{Type: mvccpb.DELETE,
			Kv: &mvccpb.KeyValue{Key: []byte(k), ModRevision: m.rev + 1}, PrevKv: m.kvOf(k, prev)})
	}
	resp.Header = &pb.ResponseHeader{Revision: m.readRev()}
	return resp
}

// finish ends a write: the revision advances when anything changed.
func (m *model) finish() []*mvccpb.Event {
	if m.nextSub > 0 {
		m.rev++
	}
	m.nextSub = 0
	ev := m.events
	m.events = nil
	return ev
}

// --- validation, written out as etcd's gRPC layer checks it ---

func (m *model) checkPutShape(p *pb.PutRequest) error {
	if len(p.Key) == 0 {
		return ErrEmptyKey
	}
	if p.IgnoreValue && len(p.Value) > 0 {
		return ErrValueProvided
	}
	if p.IgnoreLease && p.Lease != 0 {
		return ErrLeaseProvided
	}
	return nil
}

func (m *model) checkTxnShape(t *pb.TxnRequest, budget int) error {
	n := len(t.Compare)
	if len(t.Success) > n {
		n = len(t.Success)
	}
	if len(t.Failure) > n {
		n = len(t.Failure)
	}
	if n > budget {
		return ErrTooManyOps
	}
	for _, c := range t.Compare {
		if len(c.Key) == 0 {
			return ErrEmptyKey
		}
	}
	for _, op := range append(append([]*pb.RequestOp{}, t.Success...), t.Failure...) {
		var err error
		switch {
		case op.GetRequestRange() != nil:
			if len(op.GetRequestRange().Key) == 0 {
				err = ErrEmptyKey
			}
		case op.GetRequestPut() != nil:
			err = m.checkPutShape(op.GetRequestPut())
		case op.GetRequestDeleteRange() != nil:
			if len(op.GetRequestDeleteRange().Key) == 0 {
				err = ErrEmptyKey
			}
		case op.GetRequestTxn() != nil:
			err = m.checkTxnShape(op.GetRequestTxn(), budget-n)
		default:
			err = ErrKeyNotFound
		}
		if err != nil {
			return err
		}
	}
	return nil
}

type delSpan struct{ from, end string }

func (d delSpan) has(k string) bool {
	if d.end == "" {
		return k == d.from
	}
	if d.end == "\x00" { // etcd's interval for from-key deletes is empty
		return false
	}
	return d.from <= k && k < d.end
}

// dupCheck returns the branch's put keys and delete spans, or false when a
// key would be written twice.
func dupCheck(ops []*pb.RequestOp) (map[string]bool, []delSpan, bool) {
	var dels []delSpan
	for _, op := range ops {
		if d := op.GetRequestDeleteRange(); d != nil {
			dels = append(dels, delSpan{string(d.Key), string(d.RangeEnd)})
		}
	}
	deleted := func(k string) bool {
		for _, d := range dels {
			if d.has(k) {
				return true
			}
		}
		return false
	}
	puts := map[string]bool{}
	for _, op := range ops {
		t := op.GetRequestTxn()
		if t == nil {
			continue
		}
		p1, d1, ok1 := dupCheck(t.Success)
		p2, d2, ok2 := dupCheck(t.Failure)
		if !ok1 || !ok2 {
			return nil, nil, false
		}
		for k := range p1 {
			if puts[k] || deleted(k) {
				return nil, nil, false
			}
		}
		for k := range p2 {
			if (puts[k] && !p1[k]) || deleted(k) {
				return nil, nil, false
			}
		}
		for k := range p1 {
			puts[k] = true
		}
		for k := range p2 {
			puts[k] = true
		}
		dels = append(append(dels, d1...), d2...)
	}
	for _, op := range ops {
		if p := op.GetRequestPut(); p != nil {
			k := string(p.Key)
			if puts[k] || deleted(k) {
				return nil, nil, false
			}
			puts[k] = true
		}
	}
	return puts, dels, true
}

// --- txn ---

func (m *model) compareOne(c *pb.Compare) bool {
	keys := m.liveKeys(string(c.Key), string(c.RangeEnd), m.rev)
	test := func(kv *mvccpb.KeyValue) bool {
		var a, b int64
		var as, bs string
		switch c.Target {
		case pb.Compare_VALUE:
			as, bs = string(kv.Value), string(c.GetValue())
		case pb.Compare_VERSION:
			a, b = kv.Version, c.GetVersion()
		case pb.Compare_CREATE:
			a, b = kv.CreateRevision, c.GetCreateRevision()
		case pb.Compare_MOD:
			a, b = kv.ModRevision, c.GetModRevision()
		case pb.Compare_LEASE:
			a, b = kv.Lease, c.GetLease()
		}
		less := a < b || (a == b && as < bs)
		eq := a == b && as == bs
		switch c.Result {
		case pb.Compare_EQUAL:
			return eq
		case pb.Compare_NOT_EQUAL:
			return !eq
		case pb.Compare_LESS:
			return less
		case pb.Compare_GREATER:
			return !less && !eq
		}
		return true
	}
	if len(keys) == 0 {
		return c.Target != pb.Compare_VALUE && test(&mvccpb.KeyValue{})
	}
	for _, k := range keys {
		v, _ := m.lookup(k, m.rev)
		if !test(m.kvOf(k, v)) {
			return false
		}
	}
	return true
}

func (m *model) decide(t *pb.TxnRequest) bool {
	for _, c := range t.Compare {
		if !m.compareOne(c) {
			return false
		}
	}
	return true
}

// preCheck finds the state errors of the branches that will run, before
// anything is written (compares are decided before any op runs).
func (m *model) preCheck(t *pb.TxnRequest) error {
	ops := t.Failure
	if m.decide(t) {
		ops = t.Success
	}
	for _, op := range ops {
		var err error
		switch {
		case op.GetRequestRange() != nil:
			r := op.GetRequestRange().Revision
			if r > m.rev {
				err = ErrFutureRev
			} else if r != 0 && r < m.compacted {
				err = ErrCompacted
			}
		case op.GetRequestPut() != nil:
			err = m.putStateErr(op.GetRequestPut())
		case op.GetRequestTxn() != nil:
			err = m.preCheck(op.GetRequestTxn())
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (m *model) putStateErr(p *pb.PutRequest) error {
	if _, ok := m.leases[p.Lease]; p.Lease != 0 && !ok {
		return ErrLeaseNotFound
	}
	if p.IgnoreValue || p.IgnoreLease {
		if _, ok := m.lookup(string(p.Key), m.rev); !ok {
			return ErrKeyNotFound
		}
	}
	return nil
}

// runTxn executes t with every decision taken from decisions (made up front).
func (m *model) runTxn(t *pb.TxnRequest, decisions *[]bool) *pb.TxnResponse {
	ok := (*decisions)[0]
	*decisions = (*decisions)[1:]
	ops := t.Failure
	if ok {
		ops = t.Success
	}
	resp := &pb.TxnResponse{Succeeded: ok, Header: &pb.ResponseHeader{}}
	for _, op := range ops {
		out := &pb.ResponseOp{}
		switch {
		case op.GetRequestRange() != nil:
			rr, err := m.rangeOp(op.GetRequestRange(), m.readRev())
			if err != nil {
				panic(err)
			}
			out.Response = &pb.ResponseOp_ResponseRange{ResponseRange: rr}
		case op.GetRequestPut() != nil:
			out.Response = &pb.ResponseOp_ResponsePut{ResponsePut: m.putOp(op.GetRequestPut())}
		case op.GetRequestDeleteRange() != nil:
			out.Response = &pb.ResponseOp_ResponseDeleteRange{ResponseDeleteRange: m.deleteOp(op.GetRequestDeleteRange())}
		case op.GetRequestTxn() != nil:
			out.Response = &pb.ResponseOp_ResponseTxn{ResponseTxn: m.runTxn(op.GetRequestTxn(), decisions)}
		}
		resp.Responses = append(resp.Responses, out)
	}
	return resp
}

func (m *model) decisions(t *pb.TxnRequest) []bool {
	ok := m.decide(t)
	out := []bool{ok}
	ops := t.Failure
	if ok {
		ops = t.Success
	}
	for _, op := range ops {
		if nt := op.GetRequestTxn(); nt != nil {
			out = append(out, m.decisions(nt)...)
		}
	}
	return out
}

// --- the requests ---

// apply returns the expected response, error and events of req. For a
// lease grant with ID 0 the store's chosen ID is passed in grantedID.
func (m *model) apply(req *pb.InternalRaftRequest, grantedID int64) (any, error, []*mvccpb.Event, bool) {
	id := req.GetHeader().GetID()
	if id != 0 && m.done[id] {
		return nil, nil, nil, true
	}
	if id != 0 {
		m.done[id] = true
	}
	resp, err := m.applyNew(req, grantedID)
	return resp, err, m.finish(), false
}

func (m *model) applyNew(req *pb.InternalRaftRequest, grantedID int64) (any, error) {
	switch {
	case req.Put != nil:
		if err := m.checkPutShape(req.Put); err != nil {
			return nil, err
		}
		if err := m.putStateErr(req.Put); err != nil {
			return nil, err
		}
		return m.putOp(req.Put), nil
	case req.DeleteRange != nil:
		if len(req.DeleteRange.Key) == 0 {
			return nil, ErrEmptyKey
		}
		return m.deleteOp(req.DeleteRange), nil
	case req.Txn != nil:
		if err := m.checkTxnShape(req.Txn, MaxTxnOps); err != nil {
			return nil, err
		}
		if _, _, ok := dupCheck(req.Txn.Success); !ok {
			return nil, ErrDuplicateKey
		}
		if _, _, ok := dupCheck(req.Txn.Failure); !ok {
			return nil, ErrDuplicateKey
		}
		if err := m.preCheck(req.Txn); err != nil {
			return nil, err
		}
		d := m.decisions(req.Txn)
		resp := m.runTxn(req.Txn, &d)
		resp.Header = &pb.ResponseHeader{Revision: m.readRev()}
		return resp, nil
	case req.Compaction != nil:
		r := req.Compaction.Revision
		if r > m.rev {
			return nil, ErrFutureRev
		}
		if r <= m.compacted {
			return nil, ErrCompacted
		}
		m.compacted = r
		return &pb.CompactionResponse{Header: &pb.ResponseHeader{Revision: m.rev}}, nil
	case req.LeaseGrant != nil:
		g := req.LeaseGrant
		if g.TTL > 9000000000 {
			return nil, ErrLeaseTTLTooLarge
		}
		id := g.ID
		if id == 0 {
			id = grantedID
		} else if _, ok := m.leases[id]; ok {
			return nil, ErrLeaseExists
		}
		m.leases[id] = [2]int64{g.TTL, 0}
		return &pb.LeaseGrantResponse{Header: &pb.ResponseHeader{Revision: m.rev}, ID: id, TTL: g.TTL}, nil
	case req.LeaseRevoke != nil:
		id := req.LeaseRevoke.ID
		if _, ok := m.leases[id]; !ok {
			return nil, ErrLeaseNotFound
		}
		for _, k := range m.leaseKeys(id) {
			m.deleteOp(&pb.DeleteRangeRequest{Key: []byte(k)})
		}
		delete(m.leases, id)
		return &pb.LeaseRevokeResponse{Header: &pb.ResponseHeader{Revision: m.readRev()}}, nil
	case req.LeaseCheckpoint != nil:
		for _, c := range req.LeaseCheckpoint.Checkpoints {
			if l, ok := m.leases[c.ID]; ok {
				m.leases[c.ID] = [2]int64{l[0], c.Remaining_TTL}
			}
		}
		return &pb.LeaseCheckpointResponse{Header: &pb.ResponseHeader{Revision: m.rev}}, nil
	}
	return nil, ErrUnsupported
}

func (m *model) leaseKeys(id int64) []string {
	var out []string
	for _, k := range m.liveKeys("\x00", "\x00", m.rev) {
		if v, _ := m.lookup(k, m.rev); v.leaseID == id {
			out = append(out, k)
		}
	}
	return out
}

// eventsSince lists the history from rev on within the span, in order.
func (m *model) eventsSince(from int64, key, end string) []*mvccpb.Event {
	type at struct {
		key string
		i   int
	}
	var all []at
	for k, vs := range m.hist {
		if !covers(k, key, end) {
			continue
		}
		for i, v := range vs {
			if v.rev >= from {
				all = append(all, at{k, i})
			}
		}
	}
	sort.Slice(all, func(a, b int) bool {
		va, vb := m.hist[all[a].key][all[a].i], m.hist[all[b].key][all[b].i]
		if va.rev != vb.rev {
			return va.rev < vb.rev
		}
		return va.sub < vb.sub
	})
	var out []*mvccpb.Event
	for _, x := range all {
		v := m.hist[x.key][x.i]
		ev := &mvccpb.Event{Type: mvccpb.PUT, Kv: m.kvOf(x.key, v)}
		if v.dead {
			ev.Type = mvccpb.DELETE
			ev.Kv = &mvccpb.KeyValue{Key: []byte(x.key), ModRevision: v.rev}
		}
		if x.i > 0 && !m.hist[x.key][x.i-1].dead {
			ev.PrevKv = m.kvOf(x.key, m.hist[x.key][x.i-1])
		}
		out = append(out, ev)
	}
	return out
}
