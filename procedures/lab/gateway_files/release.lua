-- Shipped with the release (as OpenResty ships lualib/resty/*): what this build is.
local _M = {}

local file = assert(io.open(ngx.config.prefix() .. "VERSION"))
_M.version = file:read("*l")
file:close()

function _M.status()
  return "{status}"
end

return _M{syntax_error}
