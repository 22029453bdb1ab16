-- POST a new user with a unique userName per request.
package.path = os.getenv("LUA_DIR") .. "/?.lua;" .. package.path
local c = require("common")
setup, done = c.setup, c.done
function init() c.init(); run = string.format("%x%x", os.time(), math.random(0, 0xffffff)); counter = 0 end
function request()
  counter = counter + 1
  local body = string.format('{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"wrk-%s-%d-%d","name":{"givenName":"Load","familyName":"Test"},"active":true,"emails":[{"value":"wrk-%s-%d-%d@example.test","type":"work","primary":true}]}', run, tid, counter, run, tid, counter)
  return wrk.format("POST", nil, headers, body)
end
function response(status) c.response(status) end
