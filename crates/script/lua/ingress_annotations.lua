-- An Ingress controller that reads canary annotations under `prefix` (set before this line):
-- `canary`, `canary-weight`, and per match its first header (`canary-by-header` with
-- `-value` or `-pattern`; a header named canary-by-cookie sets `canary-by-cookie`).
local annotations = obj.annotations or {}
for _, key in ipairs({ "canary-by-cookie", "canary-by-header", "canary-by-header-pattern",
  "canary-by-header-value", "canary-weight" }) do
  annotations[prefix .. key] = nil
end
annotations[prefix .. "canary"] = "true"
if order then
  annotations[prefix .. "order"] = order
end
if obj.weight ~= "-1" then
  annotations[prefix .. "canary-weight"] = obj.weight
end
for _, match in ipairs(obj.matches or {}) do
  local header = match.headers and match.headers[1]
  if header and header.name == "canary-by-cookie" then
    annotations[prefix .. "canary-by-cookie"] = header.value
  elseif header then
    annotations[prefix .. "canary-by-header"] = header.name
    if header.type == "RegularExpression" then
      annotations[prefix .. "canary-by-header-pattern"] = header.value
    else
      annotations[prefix .. "canary-by-header-value"] = header.value
    end
  end
end
return annotations
