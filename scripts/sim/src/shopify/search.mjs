// Shopify search syntax subset for `query:` arguments: space = AND, OR, -field / NOT (negation),
// field:value, field:>v, :>=, :<, :<=, quoted values, trailing * prefix match, bare words = text.
export function parseSearch(q) {
  const toks = [];
  const re = /\s*(-|NOT\s+)?(?:(\w+):(>=|<=|>|<)?("[^"]*"|'[^']*'|[^\s()]+)|("[^"]*"|'[^']*'|[^\s()]+))/gy;
  let m;
  const s = String(q ?? '').trim();
  while (s && (m = re.exec(s))) {
    if (!m[0].trim()) break;
    if (!m[1] && !m[2] && m[5] === 'OR') { toks.push({ or: true }); continue; }
    if (!m[1] && !m[2] && m[5] === 'AND') continue;
    const unq = (v) => (v && /^["'].*["']$/.test(v) ? v.slice(1, -1) : v);
    toks.push({ neg: !!m[1], field: m[2] ? m[2].toLowerCase() : null, op: m[3] || ':', value: unq(m[4] ?? m[5]) });
  }
  // Group into OR-of-ANDs.
  const groups = [[]];
  for (const t of toks) { if (t.or) groups.push([]); else groups[groups.length - 1].push(t); }
  return groups.filter((g) => g.length);
}

// fields: {name: (obj) => value | value[]}; types via `dates` set (ISO/ms) and numbers.
export function matcher(q, fields, text = () => '', dates = new Set()) {
  const groups = parseSearch(q);
  if (!groups.length) return () => true;
  const cmp = (v, op, want, isDate) => {
    if (v == null) return false;
    if (isDate) {
      const a = typeof v === 'number' ? v : Date.parse(v);
      const b = Date.parse(want);
      if (Number.isNaN(b)) return false;
      if (op === '>') return a > b; if (op === '>=') return a >= b; if (op === '<') return a < b; if (op === '<=') return a <= b;
      return Math.floor(a / 1000) === Math.floor(b / 1000);
    }
    if (typeof v === 'number' || (/^\d+$/.test(String(v)) && /^\d+$/.test(want) && op !== ':')) {
      const a = BigInt(String(v)), b = /^-?\d+$/.test(want) ? BigInt(want) : null;
      if (b === null) return false;
      if (op === '>') return a > b; if (op === '>=') return a >= b; if (op === '<') return a < b; if (op === '<=') return a <= b;
      return a === b;
    }
    const sv = String(v).toLowerCase(), w = want.toLowerCase();
    if (w.endsWith('*')) return sv.startsWith(w.slice(0, -1));
    return sv === w;
  };
  const term = (obj, t) => {
    let ok;
    if (!t.field) ok = text(obj).toLowerCase().includes(t.value.toLowerCase().replace(/\*$/, ''));
    else if (!fields[t.field]) ok = true; // unknown filters are ignored, as Shopify does (with a search warning)
    else {
      const v = fields[t.field](obj);
      ok = Array.isArray(v) ? v.some((x) => cmp(x, t.op, t.value, dates.has(t.field))) : cmp(v, t.op, t.value, dates.has(t.field));
    }
    return t.neg ? !ok : ok;
  };
  return (obj) => groups.some((g) => g.every((t) => term(obj, t)));
}
