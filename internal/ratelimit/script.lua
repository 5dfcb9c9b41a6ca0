-- One Take (n >= 1) or Peek (n = 0) on a token bucket: the twin of
-- bucket.step in ratelimit.go, line by line. Keep them in step.
--
-- KEYS[1]  the bucket: a hash {l = level in units, t = last update, Unix ms}
-- ARGV     now (Unix ms, from the caller's clock), burst, rate, per (ms), n,
--          margin (ms added to the expiry)
-- returns  {allowed (0|1), remaining, reset (Unix ms), retry (ms)}
--
-- Lua numbers are doubles: every value stays an integer below 2^53 (the Go
-- side bounds the Limit), so the arithmetic is exact. Stored numbers are
-- written with %.0f, as plain integers: Lua's tostring keeps only 14 digits,
-- and how redis.call converts a number has changed between Redis versions.
local now = tonumber(ARGV[1])
local rate = tonumber(ARGV[3])
local per = tonumber(ARGV[4])
local n = tonumber(ARGV[5])
local margin = tonumber(ARGV[6])
local capacity = tonumber(ARGV[2]) * per

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

local level, at = capacity, now
local h = redis.call('HMGET', KEYS[1], 'l', 't')
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
local allowed, remaining, retry = 0, 0, 0
if level >= want then
  allowed = 1
  if n > 0 then
    level = level - want
    local ttl = cdiv(capacity - level, rate) + margin
    redis.call('HSET', KEYS[1], 'l', string.format('%.0f', level), 't', string.format('%.0f', eff))
    redis.call('PEXPIRE', KEYS[1], string.format('%.0f', ttl))
  end
  remaining = fdiv(level, per)
else
  retry = eff + cdiv(want - level, rate) - now
end
return {allowed, remaining, eff + cdiv(capacity - level, rate), retry}
