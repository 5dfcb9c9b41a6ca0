-- A batch of Takes (n >= 1) and Peeks (n = 0) on token buckets, all or
-- nothing: the twin of stepAll and bucket.step in ratelimit.go, line by
-- line. Keep them in step.
--
-- KEYS     the buckets: hashes {l = level in units, t = last update, Unix ms}
-- ARGV     now (Unix ms; -1: Redis's own clock, TIME), margin (ms added to
--          the expiries), then per bucket: burst, rate, per (ms), n
-- returns  per bucket {allowed (0|1), remaining, reset (Unix ms), retry (ms)}
--
-- Every bucket is evaluated at one instant; when all allow, the Takes are
-- written; when one refuses, nothing is, and the allowing buckets report
-- what a Peek would.
--
-- Lua numbers are doubles: every value stays an integer below 2^53 (the Go
-- side bounds the Limit), so the arithmetic is exact. Stored numbers are
-- written with %.0f, as plain integers: Lua's tostring keeps only 14 digits,
-- and how redis.call converts a number has changed between Redis versions.
-- TIME before a write needs effects replication: the default since Redis
-- 5, asked for here for older servers (a no-op where it is the only mode).
redis.replicate_commands()
local now = tonumber(ARGV[1])
if now < 0 then
  -- Redis's clock, the same for every node: no clock skew between nodes
  -- shifts a shared bucket. (Scripts replicate their effects, so TIME is
  -- allowed before a write.)
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local margin = tonumber(ARGV[2])

-- floor(a/b) for integers. Within the Go side's bounds (a < 2^51) the
-- rounded quotient never lands on the wrong integer; the correction is a
-- guard should the bounds ever be raised.
local function fdiv(a, b)
  local q = math.floor(a / b)
  if q * b > a then
    q = q - 1
  elseif (q + 1) * b <= a then
    q = q + 1
  end
  return q
end
local function cdiv(a, b) return -fdiv(-a, b) end

-- step is bucket.step: one bucket at now, taking n (or peeking, n = 0).
local function step(key, burst, rate, per, n)
  local capacity = burst * per
  local level, at = capacity, now
  local h = redis.call('HMGET', key, 'l', 't')
  local l, t = tonumber(h[1]), tonumber(h[2])
  if l and t then
    level, at = l, t
  end
  level = math.min(math.max(level, 0), capacity)
  local eff = math.max(at, now)
  local elapsed = now - at
  if elapsed > 0 and level < capacity then
    if elapsed >= cdiv(capacity - level, rate) then
      level = capacity
    else
      level = level + elapsed * rate
    end
  end
  local want = math.max(n, 1) * per
  local o = {allowed = 0, remaining = 0, retry = 0, write = false, level = level, eff = eff,
    capacity = capacity, rate = rate, per = per}
  if level >= want then
    o.allowed = 1
    if n > 0 then
      o.level = level - want
      o.write = true
    end
    o.remaining = fdiv(o.level, per)
  else
    o.retry = eff + cdiv(want - level, rate) - now
  end
  o.reset = eff + cdiv(capacity - o.level, rate)
  return o
end

local outs, all = {}, true
for i = 1, #KEYS do
  local a = 2 + (i - 1) * 4
  local o = step(KEYS[i], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4]))
  outs[i] = o
  if o.allowed == 0 then
    all = false
  end
end

local res = {}
for i = 1, #KEYS do
  local o = outs[i]
  if o.write and not all then
    -- the batch is refused: this Take reports as its Peek
    o.write = false
    o.level = o.level + o.per * tonumber(ARGV[2 + (i - 1) * 4 + 4])
    o.remaining = fdiv(o.level, o.per)
    o.reset = o.eff + cdiv(o.capacity - o.level, o.rate)
  end
  if o.write then
    local ttl = cdiv(o.capacity - o.level, o.rate) + margin
    redis.call('HSET', KEYS[i], 'l', string.format('%.0f', o.level), 't', string.format('%.0f', o.eff))
    redis.call('PEXPIRE', KEYS[i], string.format('%.0f', ttl))
  end
  res[#res + 1] = o.allowed
  res[#res + 1] = o.remaining
  res[#res + 1] = o.reset
  res[#res + 1] = o.retry
end
return res
