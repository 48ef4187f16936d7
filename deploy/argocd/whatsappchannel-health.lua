-- Argo CD health check for whatsapp.clinic.dev/WhatsAppChannel (docs/operations.md, "GitOps").
-- Install it in argocd-cm as resource.customizations.health.whatsapp.clinic.dev_WhatsAppChannel.
-- Argo CD runs it with gopher-lua (Lua 5.1); `obj` is the resource, the result is hs.
--   status not yet written for this generation      -> Progressing
--   phase Suspended (spec.suspend)                  -> Suspended
--   phase QRRequired or Pairing (a person must act) -> Suspended, so sync waves are not held
--   Stalled=True (nothing moves without a person)   -> Degraded
--   Ready=True                                      -> Healthy
--   anything else (pod starting, connecting...)     -> Progressing
local hs = { status = "Progressing", message = "Waiting for the operator" }

local function condition(conditions, kind)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == kind then
      return c
    end
  end
  return nil
end

local function describe(status, c)
  local text = "phase " .. tostring(status.phase or "unknown")
  if c ~= nil and c.reason ~= nil then
    text = text .. " (" .. c.reason .. ")"
  end
  if status.message ~= nil then
    text = text .. ": " .. status.message
  elseif c ~= nil and c.message ~= nil then
    text = text .. ": " .. c.message
  end
  return text
end

local status = obj.status
local generation = obj.metadata and obj.metadata.generation
if status == nil or status.observedGeneration == nil
    or (generation ~= nil and status.observedGeneration < generation) then
  return hs
end

local ready = condition(status.conditions, "Ready")
local stalled = condition(status.conditions, "Stalled")

if status.phase == "Suspended" then
  hs.status = "Suspended"
  hs.message = describe(status, ready)
elseif status.phase == "QRRequired" or status.phase == "Pairing" then
  hs.status = "Suspended"
  hs.message = "Waiting for a person to pair the device: " .. describe(status, ready)
elseif stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(status, stalled)
elseif ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(status, ready)
else
  hs.status = "Progressing"
  hs.message = describe(status, ready)
end
return hs
