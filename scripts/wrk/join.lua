-- wrk script: POST /api/v1/queue/join to the demo event, each with a fresh Idempotency-Key (a
-- UUID). A repeated key would be an idempotent replay, cheaper than a join, so a key is made
-- unique rather than random: the wrk run's start time (seconds), the thread's number and the
-- thread's request counter. Runs against one server start at least a second apart, so no run
-- repeats an earlier one's keys (a key drawn from math.random would: wrk's main Lua state is
-- never seeded, so every run drew the same sequence and replayed the first run's keys).
wrk.method = "POST"
wrk.body = '{"event_id":"evt_demo_ga"}'
wrk.headers["Content-Type"] = "application/json"
local threads = 0
local started = os.time()
setup = function(thread)
  threads = threads + 1
  thread:set("number", threads)
  thread:set("started", started)
end
local counter = 0
request = function()
  counter = counter + 1
  local key = string.format("%08x-%04x-4000-a000-%012x", started % 2^32, number, counter)
  return wrk.format(nil, "/api/v1/queue/join", { ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = key }, wrk.body)
end
