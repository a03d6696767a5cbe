// Money as integer cents; strings on the wire. Never floats.
export function toCents(s) {
  if (typeof s === 'number') s = String(s);
  const m = /^(-)?(\d+)(?:\.(\d{1,}))?$/.exec(String(s).trim());
  if (!m) throw new Error(`invalid money amount '${s}'`);
  const frac = (m[3] || '').padEnd(2, '0');
  if (frac.length > 2 && /[^0]/.test(frac.slice(2))) throw new Error(`too many decimals in '${s}'`);
  const c = Number(m[2]) * 100 + Number(frac.slice(0, 2));
  return m[1] ? -c : c;
}
export function fmt(c) {
  const neg = c < 0; const a = Math.abs(c);
  return `${neg ? '-' : ''}${Math.floor(a / 100)}.${String(a % 100).padStart(2, '0')}`;
}
// Split `total` cents over `weights` proportionally; remainders go to the first items.
export function allocate(total, weights) {
  const sum = weights.reduce((a, b) => a + b, 0);
  if (!sum) return weights.map(() => 0);
  const out = weights.map((w) => Math.floor((total * w) / sum));
  let rest = total - out.reduce((a, b) => a + b, 0);
  for (let i = 0; rest > 0; i = (i + 1) % out.length) { if (weights[i]) { out[i]++; rest--; } }
  return out;
}
// Percentage (basis points) of cents, rounded half up.
export const pct = (cents, bp) => Math.floor((cents * bp + 5000) / 10000);
