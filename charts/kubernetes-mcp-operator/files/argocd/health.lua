-- Argo CD health of a kubernetes-mcp.io McpServer, read the way kstatus (Flux, kpt) reads it:
-- a generation the operator has not observed yet is Progressing; Stalled=True is Degraded;
-- Reconciling=True is Progressing; then Ready=True is Healthy and anything else Progressing.
-- Install: argocd-cm key `resource.customizations.health.kubernetes-mcp.io_McpServer` (README).
local hs = {}
local status = obj.status
if status == nil or status.observedGeneration == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe the McpServer"
  return hs
end
local generation = obj.metadata.generation
if generation ~= nil and status.observedGeneration ~= generation then
  hs.status = "Progressing"
  hs.message = "McpServer generation " .. generation .. " is not yet observed (observed: " ..
    status.observedGeneration .. ")"
  return hs
end
local ready = nil
for _, condition in ipairs(status.conditions or {}) do
  if condition.status == "True" and condition.type == "Stalled" then
    hs.status = "Degraded"
    hs.message = condition.reason .. ": " .. (condition.message or "")
    return hs
  end
  if condition.status == "True" and condition.type == "Reconciling" then
    hs.status = "Progressing"
    hs.message = condition.reason .. ": " .. (condition.message or "")
    return hs
  end
  if condition.type == "Ready" then
    ready = condition
  end
end
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = ready.message or "Ready"
  return hs
end
hs.status = "Progressing"
hs.message = ready ~= nil and (ready.reason .. ": " .. (ready.message or "")) or "Waiting for Ready"
return hs
