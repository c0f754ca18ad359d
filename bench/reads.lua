-- wrk script: each request GETs a random path from the file named after "--"; done() prints one JSON line.
-- wrk -t1 -c32 -d10s -s bench/reads.lua http://127.0.0.1:8101 -- paths.txt

local paths = {}
local headers = {}

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      paths[#paths + 1] = line
    end
  end
  local authorization = os.getenv("BENCH_AUTHORIZATION")
  if authorization then
    headers["Authorization"] = authorization
  end
  if #paths == 0 then
    error("no path in " .. args[1])
  end
  -- Each thread gets its own sequence; os.time() alone would repeat across threads started in the same second.
  math.randomseed(os.time() + tonumber(tostring(paths):match("0x(%x+)") or "0", 16) % 100000)
end

function request()
  return wrk.format("GET", paths[math.random(#paths)], headers)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,'
      .. '"mean_us":%.1f,"errors_connect":%d,"errors_read":%d,"errors_write":%d,"errors_status":%d,'
      .. '"errors_timeout":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, e.connect, e.read, e.write, e.status, e.timeout))
end
