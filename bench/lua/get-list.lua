-- GET /Users?startIndex=S&count=100 at random offsets.
package.path = os.getenv("LUA_DIR") .. "/?.lua;" .. package.path
local c = require("common")
setup, done = c.setup, c.done
function init() c.init(); users = tonumber(os.getenv("USERS") or "10000") end
function request()
  local s = math.random(1, users - 100)
  return wrk.format("GET", wrk.path .. "?startIndex=" .. s .. "&count=100", headers)
end
function response(status) c.response(status) end
