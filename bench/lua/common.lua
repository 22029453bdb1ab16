-- Shared by the wrk scripts: the bearer token, SCIM headers, and a status tally printed at the end.
local M = {}
local threads = {}
local next_tid = 0

function M.setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
  table.insert(threads, thread)
end

function M.init()
  math.randomseed(os.time() * 1000 + (tid or 0))
  statuses = {}
  headers = { ["Content-Type"] = "application/scim+json", ["Authorization"] = "Bearer " .. (os.getenv("TOKEN") or "") }
end

function M.response(status)
  statuses[status] = (statuses[status] or 0) + 1
end

function M.done()
  local total = {}
  for _, t in ipairs(threads) do
    for code, n in pairs(t:get("statuses")) do total[code] = (total[code] or 0) + n end
  end
  for code, n in pairs(total) do io.write(string.format("status %d: %d\n", code, n)) end
end

function M.lines(path)
  local out = {}
  for line in io.lines(path) do table.insert(out, line) end
  return out
end

return M
