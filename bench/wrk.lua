-- wrk script for `make bench` (bench/run.py). Arguments after `--`:
--   mode   one of: hello, read, list, create, create-spread
--   ids    a file with one customer ID per line (ignored by hello and list); for create-spread, one
--          "token customer-ID" pair per line, so each request goes to a random organisation's customer
--   token  the bearer token (ignored by hello and create-spread)
--   nonce  a per-run string, so Idempotency-Keys never collide across runs
-- done() prints one line starting with BENCH_JSON for run.py to parse: wrk's human output is
-- localised to its own units (us/ms/s) and harder to read back reliably.

local threads = {}

function setup(thread)
   thread:set("tid", #threads + 1)
   table.insert(threads, thread)
end

local mode, token, nonce
local ids = {}
local tokens = {}
local counter = 0
local headers = {}
local body = '{"currency":"EUR","line_items":[{"description":"Bench widget","quantity":2,"unit_amount":1250}],"memo":"wrk"}'

function init(args)
   mode = args[1]
   token = args[3]
   nonce = args[4] or "0"
   if mode ~= "hello" then
      headers["Authorization"] = "Bearer " .. token
   end
   if mode == "read" or mode == "create" or mode == "create-spread" then
      local file = assert(io.open(args[2], "r"))
      for line in file:lines() do
         if mode == "create-spread" then
            local owner, id = line:match("^(%S+) (%S+)$")
            if id then
               tokens[#ids + 1] = "Bearer " .. owner
               ids[#ids + 1] = id
            end
         elseif #line > 0 then
            ids[#ids + 1] = line
         end
      end
      file:close()
      assert(#ids > 0, "no IDs in " .. args[2])
   end
   math.randomseed(os.time() * 100 + (tid or 0))
end

local function copy(source)
   local result = {}
   for key, value in pairs(source) do result[key] = value end
   return result
end

function request()
   if mode == "hello" then
      return wrk.format("GET", "/", copy(headers))
   elseif mode == "read" then
      return wrk.format("GET", "/api/v1/customers/" .. ids[math.random(#ids)], copy(headers))
   elseif mode == "list" then
      return wrk.format("GET", "/api/v1/customers?limit=100", copy(headers))
   elseif mode == "create" or mode == "create-spread" then
      counter = counter + 1
      local pick = math.random(#ids)
      local h = copy(headers)
      if mode == "create-spread" then h["Authorization"] = tokens[pick] end
      h["Content-Type"] = "application/json"
      -- Unique per request across threads and runs: a replayed key would measure the stored answer.
      h["Idempotency-Key"] = string.format("bench-%s-%d-%d", nonce, tid or 0, counter)
      return wrk.format("POST", "/api/v1/customers/" .. ids[pick] .. "/invoices", h, body)
   end
   error("unknown mode " .. tostring(mode))
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,' ..
      '"write_errors":%d,"status_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
      '"max_us":%d,"mean_us":%.1f}\n',
      summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
