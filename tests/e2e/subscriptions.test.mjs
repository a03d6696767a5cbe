// ezsync keeps Shopify delivering: with shopify.webhook_address set it subscribes to every
// Shopify topic its rules handle, and re-creates a subscription Shopify removed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { start, waitFor } from './lib.mjs';
import { shopifySim, orderezSim, ctl, gql } from './sims.mjs';

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

const subs = async (shop) => (await gql(shop, '{ webhookSubscriptions(first: 50) { nodes { id topic uri } } }'))
  .data.webhookSubscriptions.nodes;

test('subscribes to the topics the rules handle, and re-creates a removed subscription', async () => {
  const shop = await shopifySim(['--plan', 'plus']);
  const oez = await orderezSim(['--rate', '200', '--burst', '50']);
  const port = await freePort();
  const address = `http://127.0.0.1:${port}/webhooks/shopify`;
  const svc = await start({ shopifyUrl: shop.url, orderezUrl: oez.url, orderezRate: 200, orderezBurst: 50,
    shopifyRestore: 1000,
    shopifyExtra: `    webhook_address = "${address}", subscriptions_check_ms = 500,`,
    extra: `  server = { listen = "127.0.0.1:${port}", admin_listen = "127.0.0.1:0", admin_token = env "EZSYNC_ADMIN_TOKEN" },` });
  try {
    const want = ['ORDERS_CREATE', 'ORDERS_UPDATED'];
    const have = await waitFor(async () => {
      const s = (await subs(shop)).filter((n) => n.uri === address).map((n) => n.topic).sort();
      return JSON.stringify(s) === JSON.stringify(want) ? s : null;
    }, { timeout: 15000, what: 'subscriptions' });
    assert.deepEqual(have, want);

    // an order now reaches OrderEZ through the subscription ezsync made
    const sale = await ctl(shop.url, '/_sim/orders', { count: 3 });
    await waitFor(async () => (await ctl(oez.url, '/_sim/state')).orders
      .filter((o) => sale.orders.some((s) => s.id === o.externalRef)).length === 3,
    { timeout: 30000, what: 'orders in OrderEZ' });

    // Shopify removed one (as after 8 failed deliveries): the next check brings it back, once
    const created = (await subs(shop)).find((n) => n.topic === 'ORDERS_CREATE');
    const del = await gql(shop, 'mutation($id: ID!) { webhookSubscriptionDelete(id: $id) { deletedWebhookSubscriptionId userErrors { message } } }', { id: created.id });
    assert.equal(del.data.webhookSubscriptionDelete.deletedWebhookSubscriptionId, created.id);
    await waitFor(async () => (await subs(shop)).some((n) => n.topic === 'ORDERS_CREATE' && n.uri === address),
      { timeout: 15000, what: 'the subscription to come back' });
    await new Promise((r) => setTimeout(r, 1200)); // two more checks: nothing is duplicated
    const all = (await subs(shop)).filter((n) => n.uri === address);
    assert.equal(all.length, 2, JSON.stringify(all));
    assert.match(svc.logs(), /webhook subscription created/);
  } finally {
    await svc.stop();
    await shop.stop();
    await oez.stop();
    svc.cleanup();
  }
});
