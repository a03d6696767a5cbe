// Starting the simulators of scripts/sim for end-to-end tests, and talking to their control
// APIs. Node built-ins only.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { ROOT, ACCESS_TOKEN, ORDEREZ_TOKEN, SECRET, SHOP } from './lib.mjs';

export async function startSim(name, args = []) {
  const proc = spawn(`${ROOT}/scripts/sim/${name}`, ['--port', '0', ...args],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr.on('data', (d) => { err += d; if (err.length > 100000) err = err.slice(-50000); });
  let out = '';
  const url = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${name} did not start: ${err}`)), 30000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/^ready (\S+)/m);
      if (m) { clearTimeout(t); resolve(m[1]); }
    });
    proc.on('exit', (c) => { clearTimeout(t); reject(new Error(`${name} exited ${c}: ${err}`)); });
  });
  return {
    url, proc, logs: () => err,
    async stop() {
      if (proc.exitCode !== null) return;
      proc.kill('SIGTERM');
      await once(proc, 'exit');
    },
  };
}

export async function shopifySim(args = []) {
  return startSim('shopify', ['--token', ACCESS_TOKEN, '--secret', SECRET, '--shop', SHOP, ...args]);
}

export async function orderezSim(args = []) {
  return startSim('orderez', ['--token', ORDEREZ_TOKEN, ...args]);
}

export async function ctl(base, path, body, method) {
  const res = await fetch(`${base}${path}`, {
    method: method ?? (body === undefined ? 'GET' : 'POST'),
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

export async function gql(shop, query, variables = {}) {
  const res = await fetch(`${shop.url}/admin/api/2026-10/graphql.json`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-shopify-access-token': ACCESS_TOKEN },
    body: JSON.stringify({ query, variables }),
  });
  return res.json();
}

// What an installed app does: subscribe ezsync's receiver to the topics it handles.
export async function subscribe(shop, uri, topics = ['ORDERS_CREATE', 'ORDERS_UPDATED']) {
  for (const topic of topics) {
    const r = await gql(shop, `mutation($topic: WebhookSubscriptionTopic!, $sub: WebhookSubscriptionInput!) {
      webhookSubscriptionCreate(topic: $topic, webhookSubscription: $sub) {
        webhookSubscription { id } userErrors { field message } } }`,
    { topic, sub: { uri, format: 'JSON' } });
    const errs = r.errors ?? r.data.webhookSubscriptionCreate.userErrors;
    if (errs.length) throw new Error(`subscribe ${topic}: ${JSON.stringify(errs)}`);
  }
}
