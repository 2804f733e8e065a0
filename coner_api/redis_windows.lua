-- Moving windows in Redis, one list of hit times per key (newest first), several keys per call
-- (coner_api/redis_windows.py). Derived from the `limits` library's acquire_moving_window.lua (LPUSH the hit
-- times, LTRIM to the limit, EXPIRE), with two changes: hits that left the window are popped from the tail
-- first, so LLEN is the count and the tail is the oldest hit (what the X-RateLimit headers need, which
-- `limits` read with a second script and a second round trip); and a key may bring hits its process already
-- admitted on its own ("forced": recorded whatever the count), besides the one it asks about ("wanted").
--
-- ARGV[1] = now (epoch seconds, as a string: every hit recorded by this call carries it); then four values
-- per key, in KEYS order: limit, expiry (seconds), forced, wanted (0 or 1).
-- Returns, per key: {allowed (0/1), count in the window after this call, oldest hit time (string) or nil}.
local now = tonumber(ARGV[1])
local replies = {}
for i, key in ipairs(KEYS) do
  local at = 2 + (i - 1) * 4
  local limit, expiry = tonumber(ARGV[at]), tonumber(ARGV[at + 1])
  local forced, wanted = tonumber(ARGV[at + 2]), tonumber(ARGV[at + 3])
  local gone = now - expiry
  -- Each hit is popped once over the window's life: one step per hit, however large the limit.
  local last = redis.call('LINDEX', key, -1)
  while last and tonumber(last) <= gone do
    redis.call('RPOP', key)
    last = redis.call('LINDEX', key, -1)
  end
  -- Each redis.call costs several µs of Redis's one thread beyond its command's own work, so none is made
  -- twice: LPUSH answers the new length, and the tail read above stays the oldest hit unless the list was
  -- empty (then this call's hits are the oldest) or the trim below cut it.
  local count
  local add, allowed = forced, 0
  if wanted > 0 then
    count = redis.call('LLEN', key)
    if count + forced < limit then
      add, allowed = add + 1, 1
    end
  end
  if add > 0 then
    local entries = {}
    for n = 1, add do
      entries[n] = ARGV[1]
    end
    for n = 1, add, 5000 do
      count = redis.call('LPUSH', key, unpack(entries, n, math.min(n + 4999, add)))
    end
    if count > limit then
      redis.call('LTRIM', key, 0, limit - 1)
      count = limit
      last = redis.call('LINDEX', key, -1)
    elseif not last then
      last = ARGV[1]
    end
    redis.call('PEXPIRE', key, math.ceil(expiry * 1000))
  else
    count = count or redis.call('LLEN', key)
  end
  replies[i] = {allowed, count, last}
end
return replies
