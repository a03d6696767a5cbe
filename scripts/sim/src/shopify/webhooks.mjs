// Webhook delivery: signs like Shopify (base64 HMAC-SHA256 of the raw body), sends all the
// X-Shopify-* headers, and applies a delivery mode per subscription or globally:
//   normal | duplicate | delayed | out_of_order | retry
// Timeouts: 1 s connect, 5 s response (configurable). Bounded concurrency, keep-alive agent.
import http from 'node:http';
import https from 'node:https';
import crypto from 'node:crypto';
import { stringify } from '../lib/json.mjs';
import { topicToRest } from './roots.mjs';
import { prng } from '../lib/seed.mjs';

export const RETRY_COUNT = 8;
const BODIES_KEPT = 2000;
export const RETRY_BASE_MS = 60000; // retry n waits 60 s × 2^(n-1): 8 retries ≈ 4.25 h, compressed by retryFactor

export class Webhooks {
  constructor({ secret, shop, apiVersion, store, webhookUrl, log, concurrency = 8 }) {
    Object.assign(this, { secret, shop, apiVersion, store, log });
    this.cliSub = webhookUrl ? { id: 'cli', topic: '*', uri: webhookUrl, source: 'cli', includeFields: [], failures: 0 } : null;
    this.concurrency = this.defaultConcurrency = concurrency;
    this.agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: concurrency, rejectUnauthorized: false });
    this.rng = prng(7);
    this.reset();
  }
  reset() {
    for (const t of this.timers ?? []) clearTimeout(t);
    this.timers = new Set();
    this.gen = (this.gen ?? 0) + 1; // deliveries of an older generation are dropped after a reset
    this.queue = []; this.pending = 0; this.inflight ??= 0; this.log_ = []; this.seq = 0; this.windows = new Map();
    this.global = { mode: 'normal', delayMs: 0, window: 5, windowMs: 200, retryFactor: 1000 };
    this.perSub = new Map();
    this.connectTimeoutMs = 1000; this.responseTimeoutMs = 5000;
    if (this.defaultConcurrency) { this.concurrency = this.defaultConcurrency; this.agent.maxSockets = this.concurrency; }
    this.waiters = [];
    if (this.cliSub) this.cliSub.failures = 0;
  }
  setMode(m) {
    const allowed = ['normal', 'duplicate', 'delayed', 'out_of_order', 'retry'];
    if (m.mode && !allowed.includes(m.mode)) throw new Error(`mode must be one of ${allowed.join(', ')}`);
    const pick = (o) => {
      const out = {};
      for (const k of ['mode', 'delayMs', 'window', 'windowMs', 'retryFactor']) if (o[k] !== undefined) out[k] = o[k];
      return out;
    };
    if (m.concurrency !== undefined) { this.concurrency = Math.max(1, m.concurrency | 0); this.agent.maxSockets = this.concurrency; this.pump(); }
    if (m.connectTimeoutMs !== undefined) this.connectTimeoutMs = m.connectTimeoutMs;
    if (m.responseTimeoutMs !== undefined) this.responseTimeoutMs = m.responseTimeoutMs;
    if (m.subscriptionId) {
      const id = String(m.subscriptionId).replace(/^gid:\/\/shopify\/WebhookSubscription\//, '');
      this.perSub.set(id, { ...this.global, ...(this.perSub.get(id) ?? {}), ...pick(m) });
    } else {
      this.global = { ...this.global, ...pick(m) };
    }
    return this.modes();
  }
  modes() { return { global: this.global, subscriptions: Object.fromEntries(this.perSub), concurrency: this.concurrency, connectTimeoutMs: this.connectTimeoutMs, responseTimeoutMs: this.responseTimeoutMs }; }
  modeOf(sub) { return this.perSub.get(String(sub.id)) ?? this.global; }

  subscriptionsFor(topic) {
    const out = [];
    if (this.cliSub) out.push(this.cliSub);
    for (const s of this.store.subscriptions.values()) {
      s.restTopic ??= topicToRest(s.topic);
      if (s.restTopic === topic) out.push(s);
    }
    return out;
  }

  // Called by the store for every change. The body is fixed here, at trigger time.
  trigger(topic, payload, eventId) {
    const subs = this.subscriptionsFor(topic);
    if (!subs.length) return;
    const full = stringify(payload);
    for (const sub of subs) {
      let body = full;
      if (sub.includeFields?.length && payload && typeof payload === 'object') {
        const p = {};
        for (const k of sub.includeFields) if (k in payload) p[k] = payload[k];
        body = stringify(p);
      }
      const d = { topic, sub, body: Buffer.from(body), eventId, webhookId: crypto.randomUUID(), attempt: 0, triggeredAt: new Date(), gen: this.gen };
      this.pending++;
      this.route(d);
    }
  }
  route(d) {
    const m = this.modeOf(d.sub);
    if (m.mode === 'delayed' && m.delayMs > 0) return this.later(() => this.enqueue(d), m.delayMs);
    if (m.mode === 'out_of_order') {
      const key = String(d.sub.id);
      let w = this.windows.get(key);
      if (!w) { w = { items: [], timer: null }; this.windows.set(key, w); }
      w.items.push(d);
      if (w.items.length >= (m.window ?? 5)) return this.releaseWindow(key);
      if (!w.timer) w.timer = this.later(() => this.releaseWindow(key), m.windowMs ?? 200);
      return;
    }
    this.enqueue(d);
  }
  releaseWindow(key) {
    const w = this.windows.get(key);
    if (!w) return;
    this.windows.delete(key);
    if (w.timer) { clearTimeout(w.timer); this.timers.delete(w.timer); }
    const items = [...w.items];
    this.rng.shuffle(items);
    if (items.length > 1 && items.every((x, i) => x === w.items[i])) items.reverse(); // never the identity
    for (const d of items) this.enqueue(d);
  }
  later(fn, ms) {
    const t = setTimeout(() => { this.timers.delete(t); fn(); }, ms);
    this.timers.add(t);
    return t;
  }
  enqueue(d) { this.queue.push(d); this.pump(); }
  pump() {
    while (this.inflight < this.concurrency && this.queue.length) {
      const d = this.queue.shift();
      this.inflight++;
      this.send(d).finally(() => { this.inflight--; this.pump(); });
    }
  }
  async send(d) {
    const m = this.modeOf(d.sub);
    d.attempt++;
    const triggeredAt = d.attempt === 1 ? d.triggeredAt : new Date();
    const rec = await this.post(d, triggeredAt, false);
    if (m.mode === 'duplicate' && d.attempt === 1) await this.post(d, triggeredAt, true);
    if (d.gen !== this.gen) return;
    const ok = rec.status >= 200 && rec.status < 300;
    const sub = d.sub;
    if (ok) sub.failures = 0; else sub.failures = (sub.failures ?? 0) + 1;
    if (!ok && sub.source === 'api' && sub.failures >= RETRY_COUNT && this.store.subscriptions.has(sub.id)) {
      this.store.subscriptions.delete(sub.id);
      this.log_.push({ seq: ++this.seq, event: 'subscription_removed', subscriptionId: `gid://shopify/WebhookSubscription/${sub.id}`, topic: sub.topic, uri: sub.uri, consecutiveFailures: sub.failures, at: new Date().toISOString() });
      this.log?.warn(`webhook subscription ${sub.id} removed after ${sub.failures} consecutive failures`);
    }
    const removed = sub.source === 'api' && !this.store.subscriptions.has(sub.id);
    if (!ok && m.mode === 'retry' && d.attempt <= RETRY_COUNT && !removed) {
      const wait = (RETRY_BASE_MS * 2 ** (d.attempt - 1)) / (m.retryFactor || 1);
      this.later(() => this.enqueue(d), wait);
      return;
    }
    this.done();
  }
  done() {
    if (this.pending <= 0) return;
    this.pending--;
    if (this.pending === 0) { const w = this.waiters; this.waiters = []; for (const f of w) f(); }
  }
  post(d, triggeredAt, duplicate) {
    const started = process.hrtime.bigint();
    const sig = crypto.createHmac('sha256', this.secret).update(d.body).digest('base64');
    const url = new URL(d.sub.uri);
    const headers = {
      'Content-Type': 'application/json', 'Content-Length': d.body.length, 'User-Agent': 'Shopify-Captain-Hook', Accept: '*/*',
      'X-Shopify-Topic': d.topic, 'X-Shopify-Hmac-Sha256': sig, 'X-Shopify-Shop-Domain': this.shop, 'X-Shopify-API-Version': d.sub.apiVersion ?? this.apiVersion,
      'X-Shopify-Webhook-Id': d.webhookId, 'X-Shopify-Event-Id': d.eventId, 'X-Shopify-Triggered-At': triggeredAt.toISOString(),
    };
    if (d.sub.name) headers['X-Shopify-Name'] = d.sub.name;
    const rec = { seq: ++this.seq, topic: d.topic, webhookId: d.webhookId, eventId: d.eventId, subscriptionId: d.sub.id === 'cli' ? 'cli' : `gid://shopify/WebhookSubscription/${d.sub.id}`,
      uri: d.sub.uri, attempt: d.attempt, duplicate, status: null, error: null, latencyMs: null, triggeredAt: triggeredAt.toISOString(), sentAt: new Date().toISOString(), bodyBytes: d.body.length, body: d.body };
    this.log_.push(rec);
    const old = this.log_[this.log_.length - 1 - BODIES_KEPT];
    if (old) old.body = null; // bodies only for the most recent deliveries (memory under flash sales)
    if (this.log_.length > 20000) this.log_.splice(0, this.log_.length - 20000);
    return new Promise((resolve) => {
      let finished = false;
      const finish = (status, error) => {
        if (finished) return;
        finished = true;
        clearTimeout(total); clearTimeout(conn);
        rec.status = status; rec.error = error; rec.latencyMs = Number(process.hrtime.bigint() - started) / 1e6;
        resolve(rec);
      };
      const lib = url.protocol === 'https:' ? https : http;
      const req = lib.request(url, { method: 'POST', headers, agent: url.protocol === 'https:' ? this.httpsAgent : this.agent }, (res) => {
        res.on('data', () => {});
        res.on('end', () => finish(res.statusCode, null));
        res.on('error', (e) => finish(res.statusCode, e.message));
      });
      const total = setTimeout(() => { req.destroy(new Error('timeout')); finish(null, `timeout after ${this.responseTimeoutMs} ms`); }, this.responseTimeoutMs);
      let conn = null;
      req.on('socket', (sock) => {
        if (sock.connecting) {
          conn = setTimeout(() => { req.destroy(new Error('connect timeout')); finish(null, `connect timeout after ${this.connectTimeoutMs} ms`); }, this.connectTimeoutMs);
          sock.once('connect', () => clearTimeout(conn));
        }
      });
      req.on('error', (e) => finish(null, e.code || e.message));
      req.end(d.body);
    });
  }
  // Resolves when nothing is pending (out_of_order windows are released at once).
  flush(timeoutMs = 60000) {
    for (const key of [...this.windows.keys()]) this.releaseWindow(key);
    if (this.pending === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.waiters = this.waiters.filter((f) => f !== fin); resolve(false); }, timeoutMs);
      const fin = () => { clearTimeout(t); resolve(true); };
      this.waiters.push(fin);
    });
  }
  deliveries({ topic, since = 0, body = false, limit } = {}) {
    let out = this.log_.filter((r) => r.seq > since && (!topic || r.topic === topic));
    if (limit) out = out.slice(-limit);
    return out.map((r) => { const { body: b, ...rest } = r; return body && b ? { ...rest, body: b.toString('utf8') } : rest; });
  }
}
