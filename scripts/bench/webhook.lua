-- wrk script for scripts/bench/ingest: POSTs one signed orders/create body with a unique
-- X-Shopify-Webhook-Id per request (the id is a header, outside the signature, so one
-- precomputed HMAC serves every request; without unique ids everything would dedupe).
-- Environment: BENCH_BODY_FILE, BENCH_HMAC, BENCH_SHOP, BENCH_RUN (id prefix),
-- BENCH_DELAY_MS (optional pacing: wait that long after each response on a connection).
local body, hmac, shop, run, pace
local counter = 0
local nthreads = 0

function setup(thread)
  nthreads = nthreads + 1
  thread:set("tid", nthreads)
end

function init(args)
  local f = assert(io.open(os.getenv("BENCH_BODY_FILE"), "rb"))
  body = f:read("*a")
  f:close()
  hmac = os.getenv("BENCH_HMAC")
  shop = os.getenv("BENCH_SHOP")
  run = os.getenv("BENCH_RUN") or "run"
  pace = tonumber(os.getenv("BENCH_DELAY_MS") or "")
end

function request()
  counter = counter + 1
  local headers = {
    ["Content-Type"] = "application/json",
    ["X-Shopify-Hmac-Sha256"] = hmac,
    ["X-Shopify-Topic"] = "orders/create",
    ["X-Shopify-Shop-Domain"] = shop,
    ["X-Shopify-API-Version"] = "2026-10",
    ["X-Shopify-Webhook-Id"] = run .. "-" .. tostring(tid) .. "-" .. counter,
    ["X-Shopify-Event-Id"] = run .. "-e-" .. tostring(tid) .. "-" .. counter,
    ["X-Shopify-Triggered-At"] = "2026-11-26T15:00:00.000Z",
  }
  return wrk.format("POST", "/webhooks/shopify", headers, body)
end

if os.getenv("BENCH_DELAY_MS") then
  function delay()
    return pace
  end
end

-- No response() hook: it would make wrk parse every reply in Lua and slow the client down;
-- non-2xx answers are counted by wrk itself (summary.errors.status).
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH requests=%d duration_us=%d non2xx=%d sock_errors=%d " ..
    "p50_us=%d p99_us=%d max_us=%d\n", summary.requests, summary.duration, e.status,
    e.connect + e.read + e.write + e.timeout, latency:percentile(50), latency:percentile(99),
    latency.max))
end
