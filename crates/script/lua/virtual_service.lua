-- Istio VirtualService. A step with matches puts one route per match, to the canary, before the
-- user's routes; a step with a weight splits each route without matches that goes to the stable
-- Service between it (its weights scaled down) and the canary.
local spec = obj.data.spec
local canary_weight, stable_weight = obj.canaryWeight, obj.stableWeight
if canary_weight == -1 then
  canary_weight, stable_weight = 100, 0
end

local function canary_destination()
  if obj.stableService == obj.canaryService then
    return { host = obj.stableService, subset = "canary" }
  end
  return { host = obj.canaryService }
end

local istio_match_kind = { Exact = "exact", RegularExpression = "regex", PathPrefix = "prefix" }

local function string_match(kind, value)
  return { [istio_match_kind[kind] or "exact"] = value }
end

local function named_matches(list)
  local matches = {}
  for _, item in ipairs(list) do
    matches[item.name] = string_match(item.type or "Exact", item.value)
  end
  return matches
end

local function request_headers()
  local modifier = obj.requestHeaderModifier
  if modifier == nil then
    return nil
  end
  local request = {}
  for _, operation in ipairs({ "set", "add" }) do
    if modifier[operation] then
      request[operation] = {}
      for _, header in ipairs(modifier[operation]) do
        request[operation][header.name] = header.value
      end
    end
  end
  request.remove = modifier.remove
  return { request = request }
end

-- The part of a host before its first dot: `echoserver.demo.svc` names the Service echoserver.
local function service_of(host)
  return string.match(host or "", "^[^.]*")
end

local function goes_to_stable(rule)
  for _, route in ipairs(rule.route or {}) do
    if route.destination and service_of(route.destination.host) == obj.stableService then
      return true
    end
  end
  return false
end

local function split(rules)
  for _, rule in ipairs(rules or {}) do
    if rule.match == nil and goes_to_stable(rule) then
      local count = #rule.route
      for _, route in ipairs(rule.route) do
        if route.weight then
          route.weight = math.floor(route.weight * stable_weight / 100)
        else
          route.weight = math.floor(stable_weight / count)
        end
      end
      table.insert(rule.route, { destination = canary_destination(), weight = canary_weight })
    end
  end
end

if obj.matches and next(obj.matches) ~= nil then
  spec.http = spec.http or {}
  for _, match in ipairs(obj.matches) do
    local condition = {}
    if match.path then
      condition.uri = string_match(match.path.type or "PathPrefix", match.path.value)
    end
    if match.headers then
      condition.headers = named_matches(match.headers)
    end
    if match.queryParams then
      condition.queryParams = named_matches(match.queryParams)
    end
    local route = { match = { condition }, route = { { destination = canary_destination() } } }
    route.headers = request_headers()
    table.insert(spec.http, 1, route)
  end
else
  split(spec.http)
  split(spec.tcp)
  split(spec.tls)
end
return obj.data
