package sim

import (
	"fmt"
	"math/rand/v2"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"

	"metastore/checker"
	"metastore/core"
	"metastore/core/auth"
	"metastore/core/mvcc"
)

// Client timing: one outstanding request at a time, sent to any member.
const (
	clientLatency  = 500 * Microsecond // each way between a client and a member
	requestTimeout = 3 * Second        // no answer by then: outcome unknown
	thinkTimeMax   = 20 * Millisecond
	kvKeyPrefix    = "k"
	leaseKeyPrefix = "lease/"
)

// client issues random KV operations over a small key set with unique
// values and records each in the history with virtual invoke/return times.
type client struct {
	id   int
	s    *Sim
	rng  *rand.Rand
	keys int
	seq  int
	// lastValue remembers a value this client saw per key, so CAS compares
	// sometimes succeed.
	lastValue map[string]string
	// rev is the newest revision this client saw in an answer: a revision
	// the cluster has reached, so compactions near it mostly succeed.
	rev int64
	// seen holds the last len(seen) revisions this client saw in answers
	// (nseen counts them all), the revisions its old reads go back to.
	seen  [8]int64
	nseen int
	// floor is the highest compacted floor this client learnt of: its own
	// successful compaction's revision, or one past a refused revision.
	floor int64
}

// Compactions: one operation in compactPerMille, at a revision up to
// compactLagMax behind the newest one the client saw, so the history
// keeps a few revisions and some compactions land at or below an earlier
// one (refused as compacted).
const (
	compactPerMille = 25
	compactLagMax   = 8
)

// Reads at an old revision: one read in oldReadOneIn, at a revision the
// client saw, around the floor it learnt of (below, at, above), anywhere
// back to revision 1 or ahead of the newest it saw; on one key or a small
// span of keys, now and then with a limit or counting only.
const oldReadOneIn = 10

func (c *client) start() { c.s.world.After(c.rng.Int64N(thinkTimeMax)+1, c.next) }

func (c *client) key() string { return fmt.Sprintf("%s%d", kvKeyPrefix, c.rng.IntN(c.keys)) }

func (c *client) value() string {
	c.seq++
	return fmt.Sprintf("c%d-%d", c.id, c.seq)
}

// next invokes one operation unless the safety phase is over.
func (c *client) next() {
	if c.s.world.Now >= c.s.safetyEnd {
		return
	}
	in := c.pick()
	send := c.s.request(in)
	// Reads go as a read-only txn a third of the time: the replica serves
	// those through ReadIndex too, never through raft. (Under the auth
	// workload reads keep the path whose permission check the sim makes.)
	if (in.Kind == checker.Get || in.Kind == checker.Range) && c.rng.IntN(3) == 0 && !c.s.authOn() {
		send = readTxnRequest(in)
	}
	ids := c.s.drv.ids
	c.s.doAtWith(c.id, in, ids[c.rng.IntN(len(ids))], send, func(out *checker.Output) {
		if out != nil {
			c.learn(in, out)
		}
		c.s.world.After(c.rng.Int64N(thinkTimeMax)+1, c.next)
	})
}

// learn keeps what an answer tells the client about values and revisions.
func (c *client) learn(in checker.Input, out *checker.Output) {
	switch {
	case in.Kind == checker.Compact && !out.FutureRev:
		c.floor = max(c.floor, in.Revision) // compacted there, now or before
	case out.Compacted:
		c.floor = max(c.floor, in.Revision+1) // a read refused below the floor
	case out.Found && !in.Historical():
		c.lastValue[in.Key] = out.KV.Value
	}
	if out.Revision > 0 {
		c.rev = max(c.rev, out.Revision)
		c.seen[c.nseen%len(c.seen)] = out.Revision
		c.nseen++
	}
}

func (c *client) pick() checker.Input {
	if c.rng.IntN(1000) < compactPerMille && c.rev > 1 {
		// Compaction needs the admin, as in etcd: never the limited user.
		return checker.Input{Kind: checker.Compact, Revision: max(1, c.rev-c.rng.Int64N(compactLagMax)),
			Physical: c.rng.IntN(2) == 0}
	}
	in := c.pickKV()
	in.Limited = c.s.authOn() && c.rng.IntN(2) == 0
	return in
}

func (c *client) pickKV() checker.Input {
	k := c.key()
	switch p := c.rng.IntN(100); {
	case p < 35:
		return checker.Input{Kind: checker.Put, Key: k, Value: c.value()}
	case p < 65:
		if c.rev > 0 && c.rng.IntN(oldReadOneIn) == 0 {
			return c.oldRead(k)
		}
		return checker.Input{Kind: checker.Get, Key: k}
	case p < 75:
		return checker.Input{Kind: checker.Delete, Key: k}
	case p < 90:
		in := checker.Input{Kind: checker.TxnCAS, Key: k, Value: c.value(), Compare: checker.CompareValue,
			CmpValue: c.lastValue[k], ElseGet: c.rng.IntN(2) == 0}
		if in.CmpValue == "" {
			in.Compare, in.CmpRev = checker.CompareVersion, 0
		}
		return in
	default:
		if c.rev > 0 && c.rng.IntN(oldReadOneIn) == 0 {
			return c.oldRead(k)
		}
		return checker.Input{Kind: checker.Range, Key: kvKeyPrefix}
	}
}

// oldRead reads key k, or a small span of keys, at an old revision.
func (c *client) oldRead(k string) checker.Input {
	in := checker.Input{Kind: checker.Get, Key: k}
	if c.rng.IntN(2) == 0 {
		in = checker.Input{Kind: checker.Range, Key: kvKeyPrefix}
		if a, b := c.key(), c.key(); a != b {
			in.Key, in.End = min(a, b), max(a, b)
		}
		switch c.rng.IntN(6) {
		case 0:
			in.Limit = 1 + c.rng.Int64N(2)
		case 1:
			in.CountOnly = true
		}
	}
	switch p := c.rng.IntN(10); {
	case p < 5:
		in.Revision = c.seen[c.rng.IntN(min(c.nseen, len(c.seen)))]
	case p < 7 && c.floor > 0:
		in.Revision = c.floor - 1 + c.rng.Int64N(3)
	case p < 8:
		in.Revision = 1 + c.rng.Int64N(c.rev)
	default:
		in.Revision = c.rev + 1 + c.rng.Int64N(3)
	}
	in.Revision = max(in.Revision, 1)
	return in
}

// request turns a checker input into the replica call that serves it. With
// the auth workload on, every request carries its user (writes are checked
// at apply) and reads are checked against the replica's state first, as the
// server does.
func (s *Sim) request(in checker.Input) func(r *core.Replica, cb core.Callback) {
	if in.Kind == checker.GrantWrite || in.Kind == checker.RevokeWrite {
		return authRequest(in)
	}
	if s.auth == nil {
		return request(in, "")
	}
	user := auth.RootUser
	if in.Limited {
		user = limitedUser
	}
	send := request(in, user)
	return func(r *core.Replica, cb core.Callback) {
		if in.Kind == checker.Get || in.Kind == checker.Range {
			var end []byte
			if in.Kind == checker.Range {
				_, e := in.Span()
				end = []byte(e)
			}
			a := r.Store().Auth()
			if err := a.CheckRange(user, a.Revision(), []byte(in.Key), end); err != nil {
				cb(core.Result{Err: err})
				return
			}
		}
		send(r, cb)
	}
}

// request turns a checker input into the replica call that serves it,
// proposing as user ("": no header).
func request(in checker.Input, user string) func(r *core.Replica, cb core.Callback) {
	key := []byte(in.Key)
	propose := func(r *core.Replica, req *pb.InternalRaftRequest, cb core.Callback) {
		if user != "" {
			asUser(r, user, req)
		}
		r.Propose(req, cb)
	}
	switch in.Kind {
	case checker.Put:
		return func(r *core.Replica, cb core.Callback) {
			propose(r, &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: key, Value: []byte(in.Value)}}, cb)
		}
	case checker.Delete:
		return func(r *core.Replica, cb core.Callback) {
			propose(r, &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: key}}, cb)
		}
	case checker.Get, checker.Range:
		return func(r *core.Replica, cb core.Callback) { r.Read(rangeRequest(in), cb) }
	case checker.TxnCAS:
		cmp := &pb.Compare{Key: key, Result: pb.Compare_EQUAL}
		switch in.Compare {
		case checker.CompareValue:
			cmp.Target, cmp.TargetUnion = pb.Compare_VALUE, &pb.Compare_Value{Value: []byte(in.CmpValue)}
		case checker.CompareVersion:
			cmp.Target, cmp.TargetUnion = pb.Compare_VERSION, &pb.Compare_Version{Version: in.CmpRev}
		case checker.CompareModRev:
			cmp.Target, cmp.TargetUnion = pb.Compare_MOD, &pb.Compare_ModRevision{ModRevision: in.CmpRev}
		case checker.CompareCreateRev:
			cmp.Target, cmp.TargetUnion = pb.Compare_CREATE, &pb.Compare_CreateRevision{CreateRevision: in.CmpRev}
		}
		txn := &pb.TxnRequest{
			Compare: []*pb.Compare{cmp},
			Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: key, Value: []byte(in.Value)}}}},
		}
		if in.ElseGet {
			txn.Failure = []*pb.RequestOp{{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: key}}}}
		}
		return func(r *core.Replica, cb core.Callback) { propose(r, &pb.InternalRaftRequest{Txn: txn}, cb) }
	case checker.Compact:
		// Through raft like etcd's Compact: every replica compacts at apply.
		req := &pb.CompactionRequest{Revision: in.Revision, Physical: in.Physical}
		return func(r *core.Replica, cb core.Callback) { propose(r, &pb.InternalRaftRequest{Compaction: req}, cb) }
	}
	panic(fmt.Sprintf("sim: no request for %v", in.Kind))
}

// readTxnRequest sends a Get or a Range as a read-only txn: a Range holds
// in both branches, and a Get's compare (the key exists) picks between two
// reads of the same key, so the answer is the plain read's either way.
func readTxnRequest(in checker.Input) func(r *core.Replica, cb core.Callback) {
	key := []byte(in.Key)
	read := rangeRequest(in)
	var cmps []*pb.Compare
	if in.Kind == checker.Get {
		cmps = []*pb.Compare{{Key: key, Target: pb.Compare_VERSION, Result: pb.Compare_GREATER,
			TargetUnion: &pb.Compare_Version{Version: 0}}}
	}
	op := []*pb.RequestOp{{Request: &pb.RequestOp_RequestRange{RequestRange: read}}}
	txn := &pb.TxnRequest{Compare: cmps, Success: op, Failure: op}
	return func(r *core.Replica, cb core.Callback) { r.ReadTxn(txn, cb) }
}

// rangeRequest is the RangeRequest of a Get or a Range.
func rangeRequest(in checker.Input) *pb.RangeRequest {
	req := &pb.RangeRequest{Key: []byte(in.Key), Revision: in.Revision}
	if in.Kind == checker.Range {
		_, end := in.Span()
		req.RangeEnd, req.Limit, req.CountOnly = []byte(end), in.Limit, in.CountOnly
	}
	return req
}

// output converts a replica's answer into the checker's terms.
func output(in checker.Input, res core.Result) checker.Output {
	var out checker.Output
	switch resp := res.Resp.(type) {
	case *pb.PutResponse:
		out.Revision = resp.GetHeader().GetRevision()
	case *pb.CompactionResponse:
		out.Revision = resp.GetHeader().GetRevision()
	case *pb.DeleteRangeResponse:
		out.Revision = resp.GetHeader().GetRevision()
		out.Deleted = resp.Deleted
	case *pb.RangeResponse:
		out.Revision = resp.GetHeader().GetRevision()
		if in.Kind == checker.Range {
			for _, kv := range resp.Kvs {
				out.KVs = append(out.KVs, kvOf(kv))
			}
			out.Count, out.More = resp.Count, resp.More
		} else if len(resp.Kvs) > 0 {
			out.Found, out.KV = true, kvOf(resp.Kvs[0])
		}
	case *pb.TxnResponse:
		if in.Kind == checker.Get || in.Kind == checker.Range {
			// A read sent as a read-only txn: its one range is the read.
			rr := resp.Responses[0].GetResponseRange()
			rr.Header = resp.GetHeader()
			return output(in, core.Result{Resp: rr})
		}
		out.Revision = resp.GetHeader().GetRevision()
		out.Succeeded = resp.Succeeded
		if !resp.Succeeded && len(resp.Responses) > 0 {
			if rr := resp.Responses[0].GetResponseRange(); rr != nil && len(rr.Kvs) > 0 {
				out.Found, out.KV = true, kvOf(rr.Kvs[0])
			}
		}
	}
	return out
}

func kvOf(kv *mvccpb.KeyValue) checker.KV {
	return checker.KV{Key: string(kv.Key), Value: string(kv.Value), ModRev: kv.ModRevision,
		CreateRev: kv.CreateRevision, Version: kv.Version}
}

// call sends one request to member n as a client would: after the network
// latency it runs on the replica, and the answer travels back unless the
// member crashed first. done gets the result, or ok=false when the member
// refused the connection; it is never called when the answer is lost
// (the caller's timeout decides).
func (s *Sim) call(n *node, send func(r *core.Replica, cb core.Callback), done func(res core.Result, ok bool)) {
	w := s.world
	w.After(clientLatency, func() {
		if !n.alive() {
			w.After(clientLatency, func() { done(core.Result{}, false) })
			return
		}
		s.drv.exec(n, "client", func(r *core.Replica) {
			inc := n.host.Incarnation
			send(r, func(res core.Result) {
				at := n.host.Cursor()
				w.Schedule(at+clientLatency, func() {
					if n.departed(inc, at) {
						done(res, true)
					}
				})
			})
		})
	})
}

// doAt sends one operation to member nodeID and records its fate, then
// calls after with the answer (nil when it failed or timed out). Errors that
// prove the request never entered the log (a stopped member, a dropped
// proposal) are failures; silence is unknown.
func (s *Sim) doAt(clientID int, in checker.Input, nodeID uint64, after func(*checker.Output)) {
	s.doAtWith(clientID, in, nodeID, s.request(in), after)
}

// doAtWith is doAt with the request sent by send.
func (s *Sim) doAtWith(clientID int, in checker.Input, nodeID uint64, send func(r *core.Replica, cb core.Callback), after func(*checker.Output)) {
	w := s.world
	id := s.history.Invoke(clientID, in, w.Now)
	if in.Kind == checker.Compact {
		// Any compaction asked for may commit, answered or not: the only
		// floors a member may report to a cancelled watch.
		s.compactAsked[in.Revision] = true
	}
	done := false
	finish := func(out *checker.Output) {
		if !done {
			done = true
			after(out)
		}
	}
	timeout := w.After(requestTimeout, func() {
		if !done {
			s.history.Timeout(id)
			s.count("op_timeout")
			finish(nil)
		}
	})
	s.call(s.drv.nodes[nodeID], send, func(res core.Result, ok bool) {
		if done {
			return
		}
		timeout.Cancel()
		out, isOutcome := authOutput(in, res)
		if !isOutcome {
			out, isOutcome = revisionRefusal(in, res)
		}
		if ok && isOutcome {
			out.Status = checker.OK
			s.history.Return(id, out, w.Now)
			s.count("op_ok")
			if out.Denied {
				s.count("op_denied")
			}
			switch {
			case in.Kind == checker.Compact && (out.Compacted || out.FutureRev):
				s.count("compact_refused")
			case out.Compacted:
				s.count("reads_compacted_refused")
			case out.FutureRev:
				s.count("reads_future_refused")
			}
			finish(&out)
			return
		}
		switch {
		case !ok:
			s.history.Fail(id, w.Now)
			s.count("op_refused")
			finish(nil)
		case res.Err != nil:
			if definiteFailure(res.Err) {
				s.history.Fail(id, w.Now)
			} else {
				s.history.Timeout(id)
			}
			s.count("op_error")
			finish(nil)
		default:
			out := output(in, res)
			s.history.Return(id, out, w.Now)
			s.count("op_ok")
			switch {
			case in.Kind == checker.Compact:
				s.count("compactions")
			case in.Historical() && in.Revision < out.Revision:
				s.count("reads_at_old_rev")
			case in.Historical():
				s.count("reads_at_newest_rev") // the revision asked for was still the newest
			}
			finish(&out)
		}
	})
}

// revisionRefusal turns the refusals of a compaction, or of a read at an old
// revision, into answers: compacted or future, they are outcomes the model
// checks, not failures.
func revisionRefusal(in checker.Input, res core.Result) (checker.Output, bool) {
	if in.Kind != checker.Compact && !in.Historical() {
		return checker.Output{}, false
	}
	switch res.Err {
	case mvcc.ErrCompacted:
		return checker.Output{Compacted: true}, true
	case mvcc.ErrFutureRev:
		return checker.Output{FutureRev: true}, true
	}
	return checker.Output{}, false
}

// definiteFailure reports errors that prove a request was never applied.
func definiteFailure(err error) bool {
	switch err {
	case core.ErrDropped, core.ErrStopped, core.ErrTooManyReads:
		return true
	case auth.ErrAuthOldRevision:
		return true // applied as a refusal: nothing changed
	}
	return false
}
