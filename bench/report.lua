-- wrk script: posts pre-signed single-item reports, each with a distinct token, round-robin per thread.
-- TOKENSCAN_BENCH_REQUESTS names a file of lines "key_id<TAB>signature<TAB>body" (tokenscan-bench requests).
-- TOKENSCAN_BENCH_DELAY_MS, when set, makes each connection wait that long between requests (a paced run).
local counter = 1
local threads = {}

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local path = os.getenv("TOKENSCAN_BENCH_REQUESTS")
  local nthreads = tonumber(os.getenv("TOKENSCAN_BENCH_THREADS") or "1")
  requests = {}
  local n = 0
  for line in io.lines(path) do
    n = n + 1
    -- Each thread takes every nthreads-th line, so no two threads send the same token.
    if (n % nthreads) == (id - 1) then
      local kid, sig, body = line:match("^([^\t]*)\t([^\t]*)\t(.*)$")
      requests[#requests + 1] = wrk.format("POST", "/_/secrets/disclose-token", {
        ["Github-Public-Key-Identifier"] = kid,
        ["Github-Public-Key-Signature"] = sig,
        ["Content-Type"] = "application/json",
      }, body)
    end
  end
  index = 0
  pause = tonumber(os.getenv("TOKENSCAN_BENCH_DELAY_MS") or "0")
end

function request()
  index = index + 1
  if index > #requests then index = 1 end
  return requests[index]
end

-- Only a paced run defines delay(): with it defined, wrk schedules every request through a timer,
-- which costs the shared cores CPU even when the delay is 0.
if tonumber(os.getenv("TOKENSCAN_BENCH_DELAY_MS") or "0") > 0 then
  function delay()
    return pause
  end
end

function done(summary, latency, requests)
  io.write(string.format("wrk-json {\"requests\":%d,\"non2xx\":%d,\"errors\":%d,\"p50_us\":%d,\"p99_us\":%d,\"duration_us\":%d}\n",
    summary.requests, summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99), summary.duration))
end
