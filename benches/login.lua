-- wrk: POST /v1/auth/login, cycling through the users load.sh registered.
local users = tonumber(os.getenv("TESSERA_BENCH_USERS") or "64")
local counter = 0
request = function()
  counter = counter + 1
  local body = string.format('{"username":"bench%d","password":"correct horse battery"}', counter % users)
  return wrk.format("POST", "/v1/auth/login", {["Content-Type"] = "application/json"}, body)
end
