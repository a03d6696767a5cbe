-- The bench's mapping rule body: a Shopify orders/create payload to an OrderEZ order table.
-- Shared verbatim by the host run and the standalone run. json: ez.json or the pure-Lua one.
return function(json, o)
  local lines = json.array()
  for _, li in ipairs(o.line_items) do
    local tax = 0
    for _, t in ipairs(li.tax_lines or {}) do tax = tax + tonumber(t.price) end
    lines[#lines + 1] = {
      sku = li.sku, name = li.title .. " / " .. (li.variant_title or ""),
      quantity = li.quantity, unitPrice = li.price, discount = li.total_discount,
      tax = string.format("%.2f", tax), externalRef = tostring(li.id),
    }
  end
  local a = o.shipping_address or {}
  return {
    externalRef = tostring(o.id), reference = o.name, currency = o.currency,
    paymentStatus = o.financial_status == "paid" and "paid" or "unpaid",
    notes = o.note ~= json.null and o.note or nil,
    outlet = { externalRef = tostring(o.customer.id), email = o.customer.email,
               name = (a.company ~= json.null and a.company) or
                      (o.customer.first_name .. " " .. o.customer.last_name) },
    shippingAddress = { line1 = a.address1, line2 = a.address2, city = a.city,
                        region = a.province_code, postcode = a.zip, country = a.country_code },
    lines = lines,
    shipping = o.shipping_lines[1] and o.shipping_lines[1].price or "0.00",
    total = o.total_price, tags = o.tags,
  }
end
