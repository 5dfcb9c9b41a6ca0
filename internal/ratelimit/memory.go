package ratelimit

import (
	"context"
	"hash/maphash"
	"slices"
	"sync"
	"time"
)

// DefaultMaxKeys is Memory's cap on buckets held at once (about 20 MB).
// Only buckets that are not full count: a full bucket is never stored.
const DefaultMaxKeys = 1 << 17

const (
	memShards     = 64
	sweepInterval = time.Minute // of the injected clock, per shard
	evictSample   = 8
)

// Memory keeps buckets in this process: the limiter of a single node.
//
// Memory stays bounded: a bucket is stored only while it is below capacity,
// each shard drops the buckets that have refilled at most once a minute (of
// the injected clock), and the number of buckets never exceeds the cap. At
// the cap, a new bucket evicts the one nearest to full among a few sampled
// at random, so an attacker who floods keys can at worst hand back a few
// tokens to buckets that were refilling anyway.
type Memory struct {
	now      func() time.Time
	seed     maphash.Seed
	shards   []memShard
	perShard int
}

type memShard struct {
	mu        sync.Mutex
	buckets   map[string]memBucket
	nextSweep int64
	_         [32]byte // keep shards' locks off one another's cache lines
}

type memBucket struct {
	state
	fullAt int64 // Unix ms when the bucket is full again under its last Limit
}

// NewMemory returns an in-memory Limiter reading time from now, holding at
// most DefaultMaxKeys buckets.
func NewMemory(now func() time.Time) *Memory { return NewMemoryCap(now, DefaultMaxKeys) }

// NewMemoryCap is NewMemory with a cap of maxKeys buckets (at least 1).
func NewMemoryCap(now func() time.Time, maxKeys int) *Memory {
	maxKeys = max(maxKeys, 1)
	n := memShards
	if maxKeys < memShards*16 {
		n = 1 // small caps: one shard, so the cap is exact
	}
	m := &Memory{now: now, seed: maphash.MakeSeed(), shards: make([]memShard, n), perShard: maxKeys / n}
	for i := range m.shards {
		m.shards[i].buckets = make(map[string]memBucket)
	}
	return m
}

func (m *Memory) shard(key string) *memShard { return &m.shards[m.shardIndex(key)] }

func (m *Memory) shardIndex(key string) int {
	if len(m.shards) == 1 {
		return 0
	}
	return int(maphash.String(m.seed, key) % uint64(len(m.shards)))
}

// Take implements Limiter.
func (m *Memory) Take(_ context.Context, key string, l Limit, n int) (Decision, error) {
	b, err := check(l, n, false)
	if err != nil {
		return Decision{}, err
	}
	now := m.now().UnixMilli()
	s := m.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if now >= s.nextSweep {
		s.sweep(now)
	}
	cur, found := s.buckets[key]
	o := b.step(cur.state, found, now, int64(n))
	if o.write {
		if !found && len(s.buckets) >= m.perShard {
			s.evict(now)
		}
		s.buckets[key] = memBucket{state: o.next, fullAt: o.reset}
	}
	return o.decision(b), nil
}

// Peek implements Limiter.
func (m *Memory) Peek(_ context.Context, key string, l Limit) (Decision, error) {
	b, err := check(l, 0, true)
	if err != nil {
		return Decision{}, err
	}
	now := m.now().UnixMilli()
	s := m.shard(key)
	s.mu.Lock()
	cur, found := s.buckets[key]
	s.mu.Unlock()
	return b.step(cur.state, found, now, 0).decision(b), nil
}

// Reset implements Limiter.
func (m *Memory) Reset(_ context.Context, key string) error {
	s := m.shard(key)
	s.mu.Lock()
	delete(s.buckets, key)
	s.mu.Unlock()
	return nil
}

// Len is the number of buckets held (those not yet known to be full).
func (m *Memory) Len() int {
	n := 0
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		n += len(s.buckets)
		s.mu.Unlock()
	}
	return n
}

// sweep drops the buckets that are full by now. The caller holds s.mu.
func (s *memShard) sweep(now int64) {
	for k, b := range s.buckets {
		if b.fullAt <= now {
			delete(s.buckets, k)
		}
	}
	s.nextSweep = now + sweepInterval.Milliseconds()
}

// evict makes room for one bucket: among a few buckets sampled at random
// (map iteration starts at a random place), it drops the one that is full
// soonest. The caller holds s.mu.
func (s *memShard) evict(now int64) {
	var victim string
	best, seen := int64(0), 0
	for k, b := range s.buckets {
		if seen == 0 || b.fullAt < best {
			victim, best = k, b.fullAt
		}
		if seen++; seen == evictSample || best <= now {
			break
		}
	}
	if seen > 0 {
		delete(s.buckets, victim)
	}
}

// TakeAll implements Limiter: the shards of the batch's keys are locked
// together (in shard order), so the batch is one atomic step.
func (m *Memory) TakeAll(_ context.Context, ops []Op) ([]Decision, error) {
	bs, err := checkOps(ops)
	if err != nil {
		return nil, err
	}
	now := m.now().UnixMilli()
	shards := make([]*memShard, len(ops))
	idx := make([]int, len(ops))
	for i, op := range ops {
		idx[i] = m.shardIndex(op.Key)
		shards[i] = &m.shards[idx[i]]
	}
	slices.Sort(idx)
	idx = slices.Compact(idx)
	for _, i := range idx {
		s := &m.shards[i]
		s.mu.Lock()
		if now >= s.nextSweep {
			s.sweep(now)
		}
	}
	defer func() {
		for _, i := range idx {
			m.shards[i].mu.Unlock()
		}
	}()
	states := make([]state, len(ops))
	found := make([]bool, len(ops))
	for i, op := range ops {
		var cur memBucket
		cur, found[i] = shards[i].buckets[op.Key]
		states[i] = cur.state
	}
	outs := stepAll(bs, ops, states, found, now)
	ds := make([]Decision, len(ops))
	for i, o := range outs {
		if o.write {
			s := shards[i]
			if !found[i] && len(s.buckets) >= m.perShard {
				s.evict(now)
			}
			s.buckets[ops[i].Key] = memBucket{state: o.next, fullAt: o.reset}
		}
		ds[i] = o.decision(bs[i])
	}
	return ds, nil
}
