-- wrk script: POST /api/v1/queue/join to the demo event, each with a fresh Idempotency-Key (a
-- UUID). Each wrk thread seeds its own generator, so threads never repeat each other's keys
-- (a repeated key would be an idempotent replay, cheaper than a join).
wrk.method = "POST"
wrk.body = '{"event_id":"evt_demo_ga"}'
wrk.headers["Content-Type"] = "application/json"
local counter = 0
setup = function(thread) thread:set("seed", math.random(1, 2^31)) end
init = function() math.randomseed(seed) end
request = function()
  counter = counter + 1
  local key = string.format("%08x-%04x-4%03x-a%03x-%012x", math.random(0, 2^31), counter % 65536,
    math.random(0, 4095), math.random(0, 4095), math.random(0, 2^40))
  return wrk.format(nil, "/api/v1/queue/join", { ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = key }, wrk.body)
end
