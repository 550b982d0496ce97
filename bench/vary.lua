-- vary.lua - wrk script: the same route with a query that differs on every
-- request (limit for the list, an ignored probe argument for latest), so no
-- answer is reused and each request runs its catalog query.
local n = 0
local base = nil

init = function(args)
  base = args[1]
end

request = function()
  n = n + 1
  if string.find(base, "?", 1, true) then
    return wrk.format("GET", base .. "&limit=" .. (20 + n % 61))
  end
  return wrk.format("GET", base .. "?probe=" .. n)
end
