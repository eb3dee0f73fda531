-- Istio DestinationRule: a `canary` subset selecting the pods labelled for the canary.
local spec = obj.data.spec
spec.subsets = spec.subsets or {}
table.insert(spec.subsets, { name = "canary", labels = { ["istio.service.tag"] = "gray" } })
return obj.data
