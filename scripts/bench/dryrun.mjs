// Driver of scripts/bench/dryrun (see there).
import { spawnSync } from 'node:child_process';
import { createWriteStream, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { start, sql, waitFor, ROOT, BIN, ACCESS_TOKEN, ORDEREZ_TOKEN, SECRET, ADMIN_TOKEN } from '../../tests/e2e/lib.mjs';
import { shopifySim, orderezSim, ctl, subscribe } from '../../tests/e2e/sims.mjs';

const N = Number(process.argv[2]);
const SALE = Number(process.argv[3]);
const shop = await shopifySim(['--plan', 'enterprise']);
const oez = await orderezSim(['--rate', '1000', '--burst', '200']);
const svc = await start({ shopifyUrl: shop.url, orderezUrl: oez.url, orderezRate: 1000, orderezBurst: 200,
  shopifyRestore: 2000, logLevel: 'error' });
try {
  await subscribe(shop, `http://${svc.info.public}/webhooks/shopify`, ['ORDERS_CREATE']);
  await ctl(shop.url, '/_sim/orders', { count: SALE });
  await waitFor(() => sql(svc.db, "SELECT count(*) AS n FROM jobs WHERE state = 'done' AND topic = 'orders/create'")[0].n === SALE,
    { timeout: 300000, interval: 500, what: 'the sale' });
  const rec = join(svc.dir, 'sale.jsonl');
  const env = { ...process.env, SHOPIFY_WEBHOOK_SECRET: SECRET, SHOPIFY_ACCESS_TOKEN: ACCESS_TOKEN, ORDEREZ_TOKEN, EZSYNC_ADMIN_TOKEN: ADMIN_TOKEN };
  const r = spawnSync(BIN, ['record', '-c', join(svc.dir, 'ezsync.conf.lua'), '--out', rec], { env });
  if (r.status !== 0) throw new Error(`record failed: ${r.stderr}`);
  const lines = readFileSync(rec, 'utf8').trim().split('\n').filter((l) => l.includes('"topic":"orders/create"'));
  // clone: every occurrence of the order's id (body, GID, externalRef, metafield owner) renamed
  const big = join(svc.dir, 'big.jsonl');
  const out = createWriteStream(big);
  let bytes = 0;
  for (let i = 0; i < N; i++) {
    const line = lines[i % lines.length];
    const id = JSON.parse(line).event.body.match(/"id":(\d+)/)[1];
    const fresh = String(900000000000000000n + BigInt(i));
    const clone = line.split(id).join(fresh).replace(/"id":\d+,"source"/, `"id":${i + 1},"source"`) + '\n';
    bytes += clone.length;
    if (!out.write(clone)) await new Promise((res) => out.once('drain', res));
  }
  await new Promise((res) => out.end(res));
  const t0 = process.hrtime.bigint();
  const d = spawnSync(BIN, ['dry-run', '--events', big, '--rules', join(ROOT, 'rules'), '--quiet'], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  if (d.status !== 0) throw new Error(`dry-run failed: ${d.stderr}`);
  console.log(d.stdout.trim());
  console.log(`recording: ${N} orders/create events, ${(bytes / 1e6).toFixed(0)} MB (${(bytes / N / 1024).toFixed(1)} KB/event; bodies as the simulator's webhooks)`);
  console.log(`dry-run: ${secs.toFixed(2)} s wall, ${Math.round(N / secs)} events/s (target >= 20000)`);
  console.log(d.stderr.trim().split('\n').pop());
} finally {
  await svc.stop();
  await shop.stop();
  await oez.stop();
  if (!process.env.KEEP) svc.cleanup(); else console.log('kept', svc.dir);
}
