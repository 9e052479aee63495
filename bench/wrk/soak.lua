-- wrk script for the soak: a moderate mixed load against a warm hexproxy.
--   wrk ... -s bench/wrk/soak.lua URL -- PATHS_FILE THREADS DELAY_MS MISS_EVERY COND_EVERY
-- PATHS_FILE lines: "hot PATH ETAG" (warm tarballs and /packages/NAME) or "cold PATH"
-- (tarballs not yet cached). Every MISS_EVERY-th request of a thread asks for the next
-- cold path (a miss; once a thread's cold share is used up it asks for a hot path instead),
-- every COND_EVERY-th sends If-None-Match with the hot path's ETag (a 304), the rest are
-- plain GETs of hot paths. Each connection waits DELAY_MS before each request.
-- done() prints one line "BENCH_JSON {...}" for bench/load.mjs.
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  local file, nthreads = args[1], tonumber(args[2])
  delay_ms = tonumber(args[3])
  miss_every = tonumber(args[4])
  cond_every = tonumber(args[5])
  hot, conditional, cold = {}, {}, {}
  local c = 0
  for line in io.lines(file) do
    local kind, path, etag = line:match("^(%S+)%s+(%S+)%s*(%S*)")
    if kind == "hot" then
      table.insert(hot, wrk.format("GET", path))
      table.insert(conditional, wrk.format("GET", path, { ["If-None-Match"] = etag }))
    elseif kind == "cold" then
      if c % nthreads == tid then table.insert(cold, wrk.format("GET", path)) end
      c = c + 1
    end
  end
  n = 0
  h = math.floor(#hot * tid / nthreads)
  next_cold = 0
  cold_sent = 0
  status = {}
  cache = {}
end

function delay()
  return delay_ms
end

function request()
  n = n + 1
  if n % miss_every == 0 and next_cold < #cold then
    next_cold = next_cold + 1
    cold_sent = cold_sent + 1
    return cold[next_cold]
  end
  h = h % #hot + 1
  if n % cond_every == 0 then return conditional[h] end
  return hot[h]
end

function response(code, headers, body)
  local key = tostring(code)
  status[key] = (status[key] or 0) + 1
  local c = headers["x-hexproxy-cache"] or headers["X-Hexproxy-Cache"] or "none"
  cache[c] = (cache[c] or 0) + 1
end

local function merge(into, from)
  for k, v in pairs(from or {}) do into[k] = (into[k] or 0) + v end
end

local function object(t)
  local parts = {}
  for k, v in pairs(t) do table.insert(parts, string.format("%q:%d", k, v)) end
  return "{" .. table.concat(parts, ",") .. "}"
end

function done(summary, latency, requests)
  local st, ca, cold_total = {}, {}, 0
  for _, t in ipairs(threads) do
    merge(st, t:get("status"))
    merge(ca, t:get("cache"))
    cold_total = cold_total + (t:get("cold_sent") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"durationUs":%d,"requests":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latencyUs":{"min":%d,"mean":%.1f,"stdev":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d},' ..
    '"status":%s,"cache":%s,"coldRequests":%d}\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    object(st), object(ca), cold_total))
end
