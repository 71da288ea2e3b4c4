-- wrk script: person(nik) look-ups with random NIKs from $NIKS, through GraphQL
-- ($KIND=graphql), the bare route ($KIND=bare) or the DCI sync search ($KIND=dci, an
-- unsigned envelope with a new message id every request, as the replay guard wants).
-- wrk is C: the client barely competes for the two cores the server and the database
-- share.
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

-- Message ids unique across runs against one database: this run's start and a counter.
local run = string.format("%x%04x", os.time(), math.random(0, 65535))
local sent = 0
local now = os.date("!%Y-%m-%dT%H:%M:%SZ")
local envelope = '{"header":{"version":"1.0.0","message_id":"%s","message_ts":"' .. now
  .. '","action":"search","sender_id":"bench","total_count":1},"message":{'
  .. '"transaction_id":"bench","search_request":[{"reference_id":"r","timestamp":"' .. now
  .. '","search_criteria":{"query_type":"idtype-value","query":{"type":"NIK","value":"%s"},'
  .. '"response_entity":"Member","pagination":{"page_size":10,"page_number":1}}}]}}'

request = function()
  local nik = niks[math.random(#niks)]
  if kind == "dci" then
    sent = sent + 1
    local body = string.format(envelope, run .. string.format("%08x", sent), nik)
    return wrk.format("POST", "/dci/registry/sync/search", headers, body)
  end
  if kind == "graphql" then
    local body = '{"query":"' .. query .. '","variables":{"nik":"' .. nik .. '"}}'
    return wrk.format("POST", "/graphql", headers, body)
  end
  return wrk.format("GET", "/bare/person?nik=" .. nik)
end
