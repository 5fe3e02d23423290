-- wrk: POST /v1/auth/refresh with real rotation. Each thread starts with its own share of
-- refresh tokens (one session per connection) and always presents the newest token of a
-- chain, so no token is ever presented twice.
local threads = {}
local file = os.getenv("TESSERA_BENCH_TOKENS")

setup = function(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

init = function(args)
  queue = {}
  local i = 0
  for line in io.lines(file) do
    if i % 2 == id then table.insert(queue, line) end
    i = i + 1
  end
end

request = function()
  local token = table.remove(queue, 1)
  if token == nil then token = "exhausted" end
  return wrk.format("POST", "/v1/auth/refresh", {["Content-Type"] = "application/json"},
    '{"refresh_token":"' .. token .. '"}')
end

response = function(status, headers, body)
  local token = body:match('"refresh_token":"([^"]+)"')
  if token then table.insert(queue, token) end
end
