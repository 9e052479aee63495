-- wrk script for phases A and B: cycles through the request paths of a file (one path per
-- line), counting responses by status and by x-hexproxy-cache.
--   wrk ... -s bench/wrk/rotate.lua URL -- PATHS_FILE shared|partition THREADS
-- shared: every thread cycles through the whole list, from its own offset (warm cache).
-- partition: thread i takes every THREADS-th path from i, so the threads never ask for the
-- same path; once a thread is through its share it starts again (those are hits).
-- done() prints one line "BENCH_JSON {...}" for bench/load.mjs.
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  local file, mode, nthreads = args[1], args[2] or "shared", tonumber(args[3] or "1")
  reqs = {}
  local i = 0
  for line in io.lines(file) do
    local path = line:match("^(%S+)")
    if path then
      if mode ~= "partition" or i % nthreads == tid then
        table.insert(reqs, wrk.format("GET", path))
      end
      i = i + 1
    end
  end
  if #reqs == 0 then error("no request paths for thread " .. tid .. " in " .. file) end
  nreqs = #reqs
  counter = mode == "partition" and 0 or math.floor(#reqs * tid / nthreads)
  wrapped = 0
  status = {}
  cache = {}
end

function request()
  counter = counter + 1
  if counter > #reqs then
    counter = 1
    wrapped = wrapped + 1
  end
  return reqs[counter]
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
  local st, ca, wraps, paths = {}, {}, 0, 0
  for _, t in ipairs(threads) do
    merge(st, t:get("status"))
    merge(ca, t:get("cache"))
    wraps = wraps + (t:get("wrapped") or 0)
    paths = paths + (t:get("nreqs") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"durationUs":%d,"requests":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latencyUs":{"min":%d,"mean":%.1f,"stdev":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d},' ..
    '"status":%s,"cache":%s,"wraps":%d,"paths":%d}\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    object(st), object(ca), wraps, paths))
end
