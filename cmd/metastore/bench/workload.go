package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// leaseTTL is the TTL of each lease-keepalive client's lease, in seconds:
// long enough that it never expires between two keep-alives.
const leaseTTL = 60

// client is one concurrent issuer of operations. Its fields are touched by
// its own goroutine only, except completed, which the progress bar reads.
type client struct {
	id   int
	o    *Options
	cli  *clientv3.Client
	kv   pb.KVClient
	rng  *rand.Rand
	key  []byte // rewritten in place before each operation
	hist Histogram

	completed counter // operations finished, with or without error
	errs      map[string]int64
	conflicts int64 // rmw: compares that failed because another client got there first

	op func(ctx context.Context, i int64) error
}

// maxErrorKinds bounds the distinct error messages kept per client; the
// rest are counted under one "other" line.
const maxErrorKinds = 16

func (c *client) fail(err error) {
	msg := err.Error()
	if _, ok := c.errs[msg]; !ok && len(c.errs) >= maxErrorKinds {
		msg = "(other errors)"
	}
	c.errs[msg]++
}

// pickKey writes the key for operation i into c.key: the i-th key of the
// space with --sequential-keys, else one at random.
func (c *client) pickKey(i int64) {
	n := int64(c.o.KeySpaceSize)
	if c.o.SequentialKeys {
		fillKey(c.key, i%n)
	} else {
		fillKey(c.key, c.rng.Int64N(n))
	}
}

// fillKey spells idx in decimal, right-aligned and padded with '0', so
// that keys sort in index order and print readably (validate checked that
// the key size holds every index).
func fillKey(key []byte, idx int64) {
	for j := len(key) - 1; j >= 0; j-- {
		key[j] = byte('0' + idx%10)
		idx /= 10
	}
}

// prepare builds c.op for the workload, with its request messages made
// once here and reused by every operation. Setup that talks to the server
// (watch, lease grant) happens here too, before the clock starts, bounded
// by setup; streams live as long as run.
func (c *client) prepare(run, setup context.Context, value []byte) error {
	switch c.o.Workload {
	case "put":
		req := &pb.PutRequest{Key: c.key, Value: value}
		c.op = func(ctx context.Context, i int64) error {
			c.pickKey(i)
			_, err := c.kv.Put(ctx, req)
			return err
		}
	case "range":
		req := &pb.RangeRequest{Key: c.key, Serializable: c.o.Consistency == "s"}
		c.op = func(ctx context.Context, i int64) error {
			c.pickKey(i)
			_, err := c.kv.Range(ctx, req)
			return err
		}
	case "txn-put":
		req := &pb.TxnRequest{Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{
			RequestPut: &pb.PutRequest{Key: c.key, Value: value}}}}}
		c.op = func(ctx context.Context, i int64) error {
			c.pickKey(i)
			_, err := c.kv.Txn(ctx, req)
			return err
		}
	case "rmw":
		c.prepareRMW(value)
	case "watch-latency":
		return c.prepareWatch(run, setup, value)
	case "lease-keepalive":
		return c.prepareKeepAlive(run, setup)
	default:
		return fmt.Errorf("unknown workload %q", c.o.Workload)
	}
	return nil
}

// prepareRMW reads a key, then writes it back only if nobody changed it in
// between: the optimistic transaction of clientv3's STM and of Kubernetes'
// GuaranteedUpdate. One operation is both requests.
func (c *client) prepareRMW(value []byte) {
	get := &pb.RangeRequest{Key: c.key}
	rev := &pb.Compare_ModRevision{}
	txn := &pb.TxnRequest{
		Compare: []*pb.Compare{{Result: pb.Compare_EQUAL, Target: pb.Compare_MOD, Key: c.key, TargetUnion: rev}},
		Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: c.key, Value: value}}}},
	}
	c.op = func(ctx context.Context, i int64) error {
		c.pickKey(i)
		got, err := c.kv.Range(ctx, get)
		if err != nil {
			return err
		}
		rev.ModRevision = 0 // an absent key's mod_revision
		if len(got.Kvs) > 0 {
			rev.ModRevision = got.Kvs[0].ModRevision
		}
		resp, err := c.kv.Txn(ctx, txn)
		if err == nil && !resp.Succeeded {
			c.conflicts++
		}
		return err
	}
}

// prepareWatch opens the client's watch on its own key (client index
// modulo the key space; clients share keys when the space is smaller than
// --clients and then also see each other's events). An operation puts the
// key and lasts until the watcher delivers the event of that put.
func (c *client) prepareWatch(run, setup context.Context, value []byte) error {
	fillKey(c.key, int64(c.id%c.o.KeySpaceSize))
	key := string(c.key)
	wch := c.cli.Watch(clientv3.WithRequireLeader(run), key, clientv3.WithCreatedNotify())
	select {
	case created, ok := <-wch:
		if !ok || !created.Created {
			return fmt.Errorf("watch %q was not created: %v", key, created.Err())
		}
	case <-setup.Done():
		return fmt.Errorf("watch %q was not created: %w", key, setup.Err())
	}
	req := &pb.PutRequest{Key: c.key, Value: value}
	c.op = func(ctx context.Context, _ int64) error {
		put, err := c.kv.Put(ctx, req)
		if err != nil {
			return err
		}
		for {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case wr, ok := <-wch:
				if !ok {
					return errors.New("watch channel closed")
				}
				if err := wr.Err(); err != nil {
					return err
				}
				for _, ev := range wr.Events {
					if ev.Type == mvccpb.PUT && ev.Kv.ModRevision >= put.Header.Revision {
						return nil
					}
				}
			}
		}
	}
	return nil
}

// prepareKeepAlive grants the client its own lease and opens its own
// keep-alive stream; an operation is one request and its answer on it.
func (c *client) prepareKeepAlive(run, setup context.Context) error {
	lc := pb.NewLeaseClient(c.cli.ActiveConnection())
	grant, err := lc.LeaseGrant(setup, &pb.LeaseGrantRequest{TTL: leaseTTL})
	if err == nil && grant.Error != "" {
		err = errors.New(grant.Error)
	}
	if err != nil {
		return fmt.Errorf("lease grant: %w", err)
	}
	stream, err := lc.LeaseKeepAlive(run)
	if err != nil {
		return fmt.Errorf("lease keep-alive stream: %w", err)
	}
	req := &pb.LeaseKeepAliveRequest{ID: grant.ID}
	c.op = func(context.Context, int64) error {
		if err := stream.Send(req); err != nil {
			return err
		}
		resp, err := stream.Recv()
		if err == nil && resp.TTL <= 0 {
			err = fmt.Errorf("lease %x expired", grant.ID)
		}
		return err
	}
	return nil
}
