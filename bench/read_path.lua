-- wrk script for bench/read_path.py: POSTs a random body from $BODIES (one JSON
-- request body per line) to $PATH_ with $KEY as the bearer token, when given.
-- The bench checks every body's answer once before the load (200, no errors); wrk
-- counts non-2xx answers during it.
local bodies = {}
for line in io.lines(os.getenv("BODIES")) do
  if #line > 0 then bodies[#bodies + 1] = line end
end
local path = os.getenv("PATH_") or "/graphql"
local headers = {
  ["Content-Type"] = "application/json",
  ["Accept"] = "application/json",
}
local key = os.getenv("KEY") or ""
if #key > 0 then headers["Authorization"] = "Bearer " .. key end

request = function()
  return wrk.format("POST", path, headers, bodies[math.random(#bodies)])
end
