-- wrk script: replays recorded Africa's Talking webhook bodies (bench/traffic.py), one recorded
-- stream per connection, in order, so every caller's hops and sessions arrive as they would.
--
-- Arguments (after `--`): <path> <streams dir> <run id> <first cycle> [rate per connection]
-- Each pass over a stream is a "cycle": cycle k gives every phone another DRC mobile prefix and
-- every session / message id the run id and k, so callers of cycle k are new people whose
-- sessions replay exactly as recorded. A reply is "good" when it is a 200 whose body starts
-- with CON/END (USSD) or is OK (SMS); everything else is counted as bad.
-- wrk runs one connection per thread here (-t N -c N): that is what keeps a stream in order.
-- Paced runs pause a random, exponentially distributed time (mean 1/rate) before each request,
-- from a seed per connection: callers arrive independently, as they do on a campaign day. A
-- fixed pause would keep the connections in lockstep, every request of a round arriving at once.

local prefixes = {"99", "98", "97", "89", "85", "84", "82", "81", "83", "80", "90", "91"}
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  path = args[1]
  local dir = args[2]
  run = args[3]
  cycle = tonumber(args[4])
  local rate = tonumber(args[5] or "0")
  pause = 0
  if rate > 0 then pause = 1000 / rate end
  hops = {}
  for line in io.lines(dir .. "/" .. id .. ".txt") do
    table.insert(hops, line)
  end
  math.randomseed(20261127 + id)
  position = 0
  good = 0
  bad = 0
  headers = {["Content-Type"] = "application/x-www-form-urlencoded"}
end

local function body_for(line)
  local prefix = prefixes[(cycle % #prefixes) + 1]
  local tag = run .. "x" .. cycle .. "x"
  line = line:gsub("%%2B24399", "%%2B243" .. prefix)
  line = line:gsub("sessionId=", "sessionId=ATUid_" .. tag)
  line = line:gsub("^id=", "id=" .. tag)
  line = line:gsub("&id=", "&id=" .. tag)
  return line
end

function request()
  if #hops == 0 then
    return wrk.format("GET", "/healthz")
  end
  position = position + 1
  if position > #hops then
    position = 1
    cycle = cycle + 1
  end
  return wrk.format("POST", path, headers, body_for(hops[position]))
end

function delay()
  if pause == 0 then
    return 0
  end
  return -math.log(1 - math.random()) * pause
end

function response(status, headers, body)
  local head = body:sub(1, 4)
  if status == 200 and (head == "CON " or head == "END " or body:sub(1, 2) == "OK") then
    good = good + 1
  else
    bad = bad + 1
    if bad <= 3 then
      io.stderr:write("bad reply " .. status .. ": " .. body:sub(1, 80) .. "\n")
    end
  end
end

function done(summary, latency, requests)
  local good_total, bad_total = 0, 0
  for _, thread in ipairs(threads) do
    good_total = good_total + thread:get("good")
    bad_total = bad_total + thread:get("bad")
  end
  local seconds = summary.duration / 1e6
  io.write(string.format(
    "BENCH {\"requests\": %d, \"seconds\": %.3f, \"rate\": %.1f, \"good\": %d, \"bad\": %d, " ..
    "\"socket_errors\": %d, \"p50_ms\": %.2f, \"p90_ms\": %.2f, \"p99_ms\": %.2f, " ..
    "\"max_ms\": %.2f}\n",
    summary.requests, seconds, summary.requests / seconds, good_total, bad_total,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
