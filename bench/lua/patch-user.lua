-- PATCH a random existing user (ids listed one per line in IDS_FILE): replace displayName.
package.path = os.getenv("LUA_DIR") .. "/?.lua;" .. package.path
local c = require("common")
setup, done = c.setup, c.done
function init() c.init(); ids = c.lines(os.getenv("IDS_FILE")); counter = 0 end
function request()
  counter = counter + 1
  local id = ids[math.random(1, #ids)]
  local body = string.format('{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"displayName","value":"Patched %d"}]}', counter)
  return wrk.format("PATCH", wrk.path .. "/" .. id, headers, body)
end
function response(status) c.response(status) end
