// Lossless JSON: BigInt values are written as bare JSON integers (Shopify's int64 ids above
// 2^53), everything else as JSON.stringify would. Never routes an id through a JS number.

export function stringify(v) {
  switch (typeof v) {
    case 'bigint': return v.toString();
    case 'string': return JSON.stringify(v);
    case 'number': return Number.isFinite(v) ? String(v) : 'null';
    case 'boolean': return v ? 'true' : 'false';
    case 'undefined': return undefined;
    case 'object': {
      if (v === null) return 'null';
      if (Array.isArray(v)) {
        let s = '[';
        for (let i = 0; i < v.length; i++) {
          const x = stringify(v[i]);
          s += (i ? ',' : '') + (x === undefined ? 'null' : x);
        }
        return s + ']';
      }
      if (typeof v.toJSON === 'function') return stringify(v.toJSON());
      let s = '{', first = true;
      for (const k of Object.keys(v)) {
        const x = stringify(v[k]);
        if (x === undefined) continue;
        s += (first ? '' : ',') + JSON.stringify(k) + ':' + x;
        first = false;
      }
      return s + '}';
    }
    default: return undefined;
  }
}

// Parse JSON keeping integers that do not fit a double exactly as BigInt.
// Used by tests and by the simulators when they read bodies with int64 ids.
export function parse(text) {
  // Mark unsafe integers (outside strings) before JSON.parse sees them.
  let out = '', i = 0, inStr = false;
  const n = text.length;
  while (i < n) {
    const c = text[i];
    if (inStr) {
      out += c;
      if (c === '\\') { out += text[i + 1] ?? ''; i += 2; continue; }
      if (c === '"') inStr = false;
      i++; continue;
    }
    if (c === '"') { inStr = true; out += c; i++; continue; }
    if (c === '-' || (c >= '0' && c <= '9')) {
      let j = i + 1;
      while (j < n && /[0-9.eE+\-]/.test(text[j])) j++;
      const tok = text.slice(i, j);
      if (/^-?\d+$/.test(tok) && !Number.isSafeInteger(Number(tok))) out += `"\\u0000big:${tok}"`;
      else out += tok;
      i = j; continue;
    }
    out += c; i++;
  }
  return JSON.parse(out, (k, v) => (typeof v === 'string' && v.startsWith('\u0000big:') ? BigInt(v.slice(5)) : v));
}
