// scripts/bench/drain: N orders through rules/orders.lua against OrderEZ limited to R req/s
// (the simulator and ezsync both configured at R, burst B). Reports wall time / ideal, where
// wall = first to last OrderEZ request and ideal = (answered calls - B) / R, and the 429s.
import { flashSale } from './flow_bench.mjs';

const N = Number(process.env.N ?? 5000), R = Number(process.env.R ?? 200), B = Number(process.env.B ?? 20);
const C = Number(process.env.CONCURRENCY ?? 32);
console.log(`== drain: ${N} orders, OrderEZ ${R} req/s burst ${B} (simulator and ezsync), engine.concurrency ${C}`);
const r = await flashSale({ orders: N, oezRate: R, oezBurst: B, shopPlan: 'enterprise', shopRestore: 100000, concurrency: C });
const at = r.oreqs.map((x) => Date.parse(x.at));
const wall = (Math.max(...at) - Math.min(...at)) / 1000;
const answered = r.oreqs.filter((x) => x.status !== 429).length;
const limited = r.oreqs.filter((x) => x.status === 429);
const ideal = (answered - B) / R;
const first = limited.length ? Date.parse(limited[0].at) : null;
const after = first === null ? 0 : limited.filter((x) => Date.parse(x.at) > first + 1000).length;
console.log(`  OrderEZ calls ${answered} (${(answered / N).toFixed(2)} per order), orders created ${r.oorders}, dead letters ${r.dead}`);
console.log(`  wall ${wall.toFixed(2)} s  ideal ${ideal.toFixed(2)} s  ratio ${(wall / ideal).toFixed(3)}  (target <= 1.05)`);
console.log(`  429s ${limited.length} (after the first second of the first: ${after}; target 0 after the first)`);
if (process.env.HIST) {
  const t0 = Math.min(...at);
  const h = new Map();
  for (const t of at) { const s = Math.floor((t - t0) / 1000); h.set(s, (h.get(s) ?? 0) + 1); }
  console.log('  per second:', [...h.entries()].sort((a, b) => a[0] - b[0]).map(([, n]) => n).join(' '));
  for (const l of limited) console.log('  429 at', ((Date.parse(l.at) - t0) / 1000).toFixed(3), l.fault ?? '');
}
