-- Site code (Flatnet's own Lua): the API health endpoint, with the running release.
local cjson = require "cjson.safe"
local release = require "resty.release"

local _M = {}

function _M.health()
  local status = release.status()
  ngx.status = status == "ok" and ngx.HTTP_OK or ngx.HTTP_SERVICE_UNAVAILABLE
  ngx.header["Content-Type"] = "application/json"
  ngx.say(cjson.encode({ status = status, service = "flatnet-gateway-api", version = release.version }))
end

return _M
