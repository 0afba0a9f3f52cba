-- make bench's wrk requests, one target per run (BENCH_TARGET): bare, page, retrieve, create,
-- create_keyed. Counts every response outside 2xx and prints "non-2xx: N" so the bench fails
-- on them (wrk's own summary counts only >= 400).
local target = os.getenv("BENCH_TARGET") or "bare"
local api_key = os.getenv("BENCH_API_KEY") or ""
local session_id = os.getenv("BENCH_SESSION_ID") or ""
local run_id = os.getenv("BENCH_RUN_ID") or tostring(os.time())
local create_body = '{"items": [{"name": "Bench widget", "quantity": 2, "unitPrice": 1250}], '
  .. '"customerEmail": "buyer@example.com"}'

local threads = {}

function setup(thread)
  thread:set("thread_id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  bad = 0
  sent = 0
  first_bad = ""
end

function request()
  sent = sent + 1
  if target == "bare" then
    return wrk.format("GET", "/bench/bare")
  elseif target == "page" then
    return wrk.format("GET", "/checkout/" .. session_id)
  end
  local headers = { ["Authorization"] = "Bearer " .. api_key }
  if target == "retrieve" then
    return wrk.format("GET", "/v0/checkout/sessions/" .. session_id, headers)
  end
  headers["Content-Type"] = "application/json"
  if target == "create_keyed" then
    -- Unique per request across threads and runs: a fresh create every time, never a replay.
    headers["Idempotency-Key"] = "bench-" .. run_id .. "-" .. thread_id .. "-" .. sent
  end
  return wrk.format("POST", "/v0/checkout/sessions", headers, create_body)
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    bad = bad + 1
    if first_bad == "" then
      first_bad = status .. " " .. string.sub(body or "", 1, 200)
    end
  end
end

function done(summary, latency, requests)
  local total = 0
  local example = ""
  for _, thread in ipairs(threads) do
    total = total + thread:get("bad")
    if example == "" then
      example = thread:get("first_bad")
    end
  end
  io.write(string.format("non-2xx: %d\n", total))
  if total > 0 then
    io.write("first non-2xx: " .. example .. "\n")
  end
end
