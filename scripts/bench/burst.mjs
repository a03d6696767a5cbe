// scripts/bench/burst: a flash sale's write-backs (one GraphQL mutation per order, through
// rules/orders.lua) against the Shopify simulator on a small plan, OrderEZ fast enough not to
// matter. Reports the share of the restore rate used over the burst (target >= 95 %) and the
// THROTTLED responses (target <= 1 %).
import { flashSale } from './flow_bench.mjs';

const N = Number(process.env.N ?? 400), PLAN = process.env.PLAN ?? 'standard';
const C = Number(process.env.CONCURRENCY ?? 32);
console.log(`== burst: ${N} orders' write-backs, Shopify plan ${PLAN}, engine.concurrency ${C}`);
const r = await flashSale({ orders: N, oezRate: 5000, oezBurst: 500, shopPlan: PLAN, concurrency: C });
const reqs = r.sreqs.filter((x) => x.operationName !== 'EzsyncCatchUp');
const at = reqs.map((x) => Date.parse(x.at));
const span = (Math.max(...at) - Math.min(...at)) / 1000;
const throttled = reqs.filter((x) => x.outcome === 'THROTTLED' || (x.errors ?? []).includes('THROTTLED')).length;
const charged = reqs.reduce((a, x) => a + (x.actualQueryCost ?? 0), 0);
const { restoreRate, maximumAvailable } = r.plan;
const last = reqs[reqs.length - 1].currentlyAvailable ?? 0;
// points restored and spent over the span: charged minus what the bucket itself gave up
const used = charged - (maximumAvailable - last);
console.log(`  GraphQL requests ${reqs.length} (restore ${restoreRate}/s, bucket ${maximumAvailable}), charged ${charged} points over ${span.toFixed(2)} s, orders ${r.oorders}, dead letters ${r.dead}`);
console.log(`  restore used ${(100 * used / (restoreRate * span)).toFixed(1)} %  (target >= 95 %)`);
console.log(`  THROTTLED ${throttled} of ${reqs.length} (${(100 * throttled / reqs.length).toFixed(2)} %, target <= 1 %)`);
