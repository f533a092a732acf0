// HubSpot's webhooks: the v3 signature, base64(HMAC-SHA256(client secret, `POST` +
// URL + body + timestamp)) in `X-HubSpot-Signature-v3`, with the timestamp (Unix
// ms) in `X-HubSpot-Request-Timestamp`, and an array of events naming objects. The
// HMAC is computed by the host with the tenant secret (`hmac`, the
// scrm:plugin/secrets import), which never enters the plugin.

import { fail } from './hubspot.js';

/** Deliveries older than this are refused (HubSpot: five minutes). */
const MAX_AGE_MS = 5 * 60 * 1000;

/** Constant-time equality of two byte arrays. */
function same(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/**
 * Checks a delivery's signature and age; `hmac(secretName, bytes)` is the host's
 * HMAC-SHA256 with the tenant secret.
 * @throws the contract's `unauthorized` for a missing, stale or wrong signature
 */
export function verify(cfg, headers, body, nowMs, hmac) {
  if (!cfg.webhook_secret || !cfg.webhook_url) {
    throw fail('invalid', 'webhooks are not configured: set webhook_secret and webhook_url');
  }
  const header = (name) => headers.find(([k]) => k === name)?.[1]?.trim();
  const refuse = (why) => fail('unauthorized', `HubSpot webhook: ${why}`);
  const signature = header('x-hubspot-signature-v3');
  const timestamp = header('x-hubspot-request-timestamp');
  if (!signature) throw refuse('unsigned');
  if (!/^[0-9]+$/.test(timestamp ?? '')) throw refuse('no timestamp');
  if (nowMs - Number(timestamp) > MAX_AGE_MS) throw refuse('older than 5 minutes');
  let expected;
  try {
    expected = Uint8Array.from(atob(signature), (c) => c.charCodeAt(0));
  } catch {
    throw refuse('the signature is not base64');
  }
  const enc = new TextEncoder();
  const parts = [enc.encode(`POST${cfg.webhook_url}`), body, enc.encode(timestamp)];
  const signed = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    signed.set(p, at);
    at += p.length;
  }
  let mac;
  try {
    mac = hmac(cfg.webhook_secret, signed);
  } catch (e) {
    throw fail('failed', `cannot check the signature: ${e.payload ?? e}`);
  }
  if (!same(mac, expected)) throw refuse('the signature does not match');
}

/** The ids of the contacts a delivery's `contact.*` events name, each once. */
export function contactIds(body) {
  let events;
  try {
    events = JSON.parse(new TextDecoder().decode(body));
  } catch (e) {
    throw fail('invalid', `not HubSpot's event array: ${e.message}`);
  }
  if (!Array.isArray(events)) throw fail('invalid', "not HubSpot's event array");
  const ids = [];
  for (const e of events) {
    const id = e.objectId === undefined ? undefined : String(e.objectId);
    if (String(e.subscriptionType).startsWith('contact.') && id && !ids.includes(id)) ids.push(id);
  }
  return ids;
}
