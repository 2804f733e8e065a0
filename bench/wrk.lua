-- One request shape per wrk run: `wrk ... -s bench/wrk.lua URL -- TOKENS_FILE METHOD [patch]`.
-- Requests cycle through the users' tokens (one per line; "-" for none); `patch` sends a PATCH body whose
-- value changes with every request, so each one is a real write. `done` prints one JSON line for run.py.
local tokens = {}
local method = "GET"
local patch = false
local counter = 0

function init(args)
  if args[1] and args[1] ~= "-" then
    for line in io.lines(args[1]) do
      if #line > 0 then tokens[#tokens + 1] = line end
    end
  end
  method = args[2] or "GET"
  patch = args[3] == "patch"
  -- Different threads start at different tokens.
  counter = math.random(1, 1000)
end

function request()
  counter = counter + 1
  local headers = {}
  if #tokens > 0 then
    headers["Authorization"] = "Bearer " .. tokens[(counter % #tokens) + 1]
  end
  local body = nil
  if patch then
    headers["Content-Type"] = "application/json"
    body = string.format('{"address": "%d Benchmark Street"}', counter)
  end
  return wrk.format(method, nil, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests": %.0f, "duration_us": %.0f, "p50_us": %.0f, "p99_us": %.0f, ' ..
    '"connect": %.0f, "read": %.0f, "write": %.0f, "status": %.0f, "timeout": %.0f}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
