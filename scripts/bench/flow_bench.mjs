// Shared by scripts/bench/drain and scripts/bench/burst: the real binary, the simulators and a
// flash sale through rules/orders.lua (webhooks -> ingest -> engine -> OrderEZ + write-back).
import { start, sql, waitFor } from '../../tests/e2e/lib.mjs';
import { shopifySim, orderezSim, ctl, subscribe } from '../../tests/e2e/sims.mjs';

export async function flashSale({ orders, oezRate, oezBurst, shopPlan, shopRestore, concurrency,
  progress = true }) {
  const shop = await shopifySim(['--plan', shopPlan]);
  if (shopRestore) await ctl(shop.url, '/_sim/plan', { restoreRate: shopRestore, maximumAvailable: shopRestore * 20, currentlyAvailable: shopRestore * 20 });
  const oez = await orderezSim(['--rate', String(oezRate), '--burst', String(oezBurst)]);
  const PLANS = { standard: 100, advanced: 200, plus: 1000, enterprise: 2000 };
  const restoreRate = shopRestore ?? PLANS[shopPlan];
  const plan = { name: shopPlan, restoreRate, maximumAvailable: 20 * restoreRate };
  const svc = await start({ shopifyUrl: shop.url, orderezUrl: oez.url, orderezRate: oezRate,
    orderezBurst: oezBurst, shopifyRestore: restoreRate,
    concurrency, logLevel: 'warn', retryBaseMs: 500, retryCapMs: 30000 });
  try {
    await ctl(shop.url, '/_sim/webhooks/mode', { concurrency: 16 });
    await subscribe(shop, `http://${svc.public.host}:${svc.public.port}/webhooks/shopify`);
    const t0 = Date.now();
    await ctl(shop.url, '/_sim/orders', { count: orders });
    await waitFor(() => {
      const r = sql(svc.db, "SELECT sum(state IN ('queued','running','retry_wait')) AS pending,"
        + " sum(state = 'done' AND topic = 'orders/create') AS created, sum(state = 'dead') AS dead FROM jobs");
      if (progress && process.stderr.isTTY) process.stderr.write(`\r  ${((Date.now() - t0) / 1000).toFixed(0)} s: ${r[0].created ?? 0}/${orders} orders, ${r[0].pending ?? 0} jobs pending `);
      return (r[0].created ?? 0) + (r[0].dead ?? 0) >= orders && r[0].pending === 0;
    }, { timeout: 3600000, interval: 500, what: 'the flash sale to drain' });
    if (progress && process.stderr.isTTY) process.stderr.write('\n');
    const dead = sql(svc.db, "SELECT count(*) AS n FROM jobs WHERE state = 'dead'")[0].n;
    const oreqs = (await ctl(oez.url, '/_sim/requests?since=0')).requests;
    const sreqs = (await ctl(shop.url, '/_sim/requests?since=0')).requests;
    const oorders = (await ctl(oez.url, '/_sim/state')).orders.length;
    return { oreqs, sreqs, dead, oorders, plan };
  } finally {
    await svc.stop();
    await shop.stop();
    await oez.stop();
    svc.cleanup();
  }
}
