-- One request shape per wrk run: `wrk ... -s bench/wrk.lua URL -- TOKENS_FILE METHOD [patch | each FIRST]`.
-- Each request carries a random one of the users' tokens (one per line; "-" for none); `patch` sends a PATCH body whose
-- value changes with every request, so each one is a real write; `each FIRST` sends the tokens in file order from line
-- FIRST on (each user once, for the many-users scenario's first pass). `done` prints one JSON line for run.py.
-- Requests without a body are formatted once, in `init`: wrk shares the machine with the server, so what it
-- spends per request should be as little, and as alike across routes, as can be.
local tokens = {}
local prepared = {}
local method = "GET"
local patch = false
local each = false
local counter = 0

function init(args)
  if args[1] and args[1] ~= "-" then
    for line in io.lines(args[1]) do
      if #line > 0 then tokens[#tokens + 1] = line end
    end
  end
  method = args[2] or "GET"
  patch = args[3] == "patch"
  each = args[3] == "each"
  math.randomseed(os.time())
  counter = math.random(1, 1000)
  if each then counter = tonumber(args[4]) - 1 end
  if not patch then
    for i, token in ipairs(tokens) do
      prepared[i] = wrk.format(method, nil, {["Authorization"] = "Bearer " .. token}, nil)
    end
    if #tokens == 0 then prepared[1] = wrk.format(method, nil, {}, nil) end
  end
end

function request()
  counter = counter + 1
  if each then
    return prepared[(counter - 1) % #prepared + 1]
  end
  if not patch then
    return prepared[math.random(#prepared)]
  end
  local headers = {["Content-Type"] = "application/json"}
  if #tokens > 0 then
    headers["Authorization"] = "Bearer " .. tokens[math.random(#tokens)]
  end
  return wrk.format(method, nil, headers, string.format('{"address": "%d Benchmark Street"}', counter))
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %.0f, "duration_us": %.0f, "p50_us": %.0f, "p99_us": %.0f, ' ..
    '"connect": %.0f, "read": %.0f, "write": %.0f, "status": %.0f, "timeout": %.0f}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
