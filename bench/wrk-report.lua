-- wrk script for bench/serve.ts: at the end of a run, print ONE line
--   WRK_JSON {"requests":n,"durationUs":n,"p50Us":n,...,"non2xx":n,...}
-- with exact latency percentiles (µs), request count, and every kind of error:
-- wrk's socket errors (connect/read/write/timeout) plus responses whose status
-- is not 2xx, counted in response() (wrk's own `status` error only counts > 399).
--
-- Each wrk thread runs its own Lua state, so setup() keeps a handle on every
-- thread and done() sums their counters through thread:get().
--
-- Usage: wrk -t1 -c64 -d2s --latency -s bench/wrk-report.lua -H 'Metadata: true' URL

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  non2xx = 0
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end

function done(summary, latency, requests)
  local non2xx = 0
  for _, t in ipairs(threads) do
    non2xx = non2xx + (t:get("non2xx") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"durationUs":%d,"bytes":%d,"p50Us":%d,"p90Us":%d,"p99Us":%d,"p999Us":%d,"maxUs":%d,"meanUs":%.1f,' ..
    '"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d,"non2xx":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max, latency.mean,
    e.connect, e.read, e.write, e.timeout, e.status, non2xx))
end
