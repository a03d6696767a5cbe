-- Shopify Admin GraphQL helpers: the documents rules send (each validates against the pinned
-- Admin schema; the simulator rejects any that does not) and small conveniences around them.
local M = {}

M.docs = {}

-- Links a Shopify order to its OrderEZ order: a metafield (machine-readable) and a tag (visible
-- in the admin and filterable). One request, two mutations.
M.docs.order_writeback = [[
mutation OrderWriteback($metafields: [MetafieldsSetInput!]!, $id: ID!, $tags: [String!]!) {
  metafieldsSet(metafields: $metafields) {
    metafields { id key namespace value }
    userErrors { field message code }
  }
  tagsAdd(id: $id, tags: $tags) {
    node { id }
    userErrors { field message }
  }
}]]

function M.gid(kind, id)
  if type(id) == "string" and id:match("^gid://") then return id end
  return string.format("gid://shopify/%s/%s", kind, tostring(id))
end

-- Numeric id of a GID as a string (exact: never through a float).
function M.gid_id(gid)
  return type(gid) == "string" and gid:match("/(%d+)$") or tostring(gid)
end

-- Sends a document; raises on transport-level GraphQL errors (schema, cost) and returns data.
-- userErrors are returned to the caller, per mutation, through collect_user_errors.
function M.graphql(doc, vars)
  local res = ez.shopify.graphql(doc, vars)
  if res.errors and #res.errors > 0 then
    local msgs = {}
    for _, e in ipairs(res.errors) do msgs[#msgs + 1] = e.message or "?" end
    error("Shopify GraphQL error: " .. table.concat(msgs, "; "), 2)
  end
  return res.data or {}
end

function M.user_errors(data)
  local out = {}
  for name, payload in pairs(data or {}) do
    if type(payload) == "table" and type(payload.userErrors) == "table" then
      for _, e in ipairs(payload.userErrors) do
        out[#out + 1] = name .. ": " .. tostring(e.message)
      end
    end
  end
  table.sort(out)
  return out
end

function M.writeback_order(order_gid, orderez_id, tag_prefix)
  local data = M.graphql(M.docs.order_writeback, {
    metafields = { { ownerId = order_gid, namespace = "ezsync", key = "orderez_order_id",
                     type = "single_line_text_field", value = tostring(orderez_id) } },
    id = order_gid,
    tags = { (tag_prefix or "orderez:") .. tostring(orderez_id) },
  })
  local errs = M.user_errors(data)
  if #errs > 0 then error("Shopify rejected the write-back: " .. table.concat(errs, "; "), 2) end
  return data
end

return M
