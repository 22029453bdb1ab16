-- GET /Users?filter=userName eq "bench-N" for random N below USERS.
package.path = os.getenv("LUA_DIR") .. "/?.lua;" .. package.path
local c = require("common")
setup, done = c.setup, c.done
function init() c.init(); users = tonumber(os.getenv("USERS") or "10000") end
function request()
  local n = math.random(0, users - 1)
  return wrk.format("GET", wrk.path .. "?filter=userName%20eq%20%22bench-" .. n .. "%22", headers)
end
function response(status) c.response(status) end
