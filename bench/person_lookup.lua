-- wrk script: person(nik) look-ups with random NIKs from $NIKS, either through GraphQL
-- ($KIND=graphql) or the bare route ($KIND=bare). wrk is C: the client barely competes
-- for the two cores the server and the database share.
local kind = os.getenv("KIND") or "graphql"
local niks = {}
for line in io.lines(os.getenv("NIKS")) do
  if #line > 0 then niks[#niks + 1] = line end
end
local query = "query($nik: String!) { person(nik: $nik) { name sex birthDate } }"
local headers = {
  ["Content-Type"] = "application/json",
  ["Accept"] = "application/graphql-response+json",
  ["Authorization"] = "Bearer " .. (os.getenv("KEY") or ""),
}

request = function()
  local nik = niks[math.random(#niks)]
  if kind == "graphql" then
    local body = '{"query":"' .. query .. '","variables":{"nik":"' .. nik .. '"}}'
    return wrk.format("POST", "/graphql", headers, body)
  end
  return wrk.format("GET", "/bare/person?nik=" .. nik)
end
