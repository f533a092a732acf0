// HubSpot's side, in plain JavaScript (it runs under node too, `npm test`): the
// configuration, HubSpot's statuses as the contract's errors, contacts as CRM
// records and back, and the pull cursor. Another CRM changes this file (and
// webhook.js), not the contract's calls in index.js. Records and errors are in the
// contract's shapes as componentize-js gives them: variants as `{ tag, val }`,
// s64 as BigInt.

import { parse as parseToml } from 'smol-toml';

/** The contact properties read on pulls, webhooks and reads. */
export const PROPERTIES = ['firstname', 'lastname', 'phone', 'email', 'lastmodifieddate'];

/** The contract's error `tag` with `val`, to throw from an export. */
export const fail = (tag, val) => ({ tag, val });

/**
 * The binding's configuration (bytes, as the host gives them), defaults filled in.
 * @throws the contract's `invalid` error naming the key that is wrong
 */
export function parseConfig(raw) {
  const text = new TextDecoder().decode(raw).trim();
  let doc = {};
  try {
    if (text !== '') doc = text.startsWith('{') ? JSON.parse(text) : parseToml(text);
  } catch (e) {
    throw fail('invalid', `connector config: ${String(e.message).split('\n')[0]}`);
  }
  const cfg = {
    // HubSpot's API; paths /crm/v3/... are added to it.
    base_url: 'https://api.hubapi.com',
    // Contacts per pull page, 1-200.
    page_size: 100,
    // Changes younger than this are left for the next pull: HubSpot's search index
    // shows a write a few seconds late, and a change indexed after the cursor
    // passed its time would never be read.
    pull_settle_ms: 5000,
    // The custom note property holding the host's key of a write.
    key_property: 'scrm_key',
    // The tenant secret webhooks are signed with (its name); unset: refused.
    webhook_secret: undefined,
    // The public URL HubSpot posts webhooks to, as configured in the app.
    webhook_url: undefined,
  };
  for (const [key, value] of Object.entries(doc)) {
    if (!(key in cfg)) throw fail('invalid', `connector config: unknown key ${key}`);
    cfg[key] = value;
  }
  if (!/^https?:\/\//.test(cfg.base_url)) throw fail('invalid', `connector config: base_url ${cfg.base_url} must be a URL`);
  if (!(cfg.page_size >= 1 && cfg.page_size <= 200)) throw fail('invalid', 'connector config: page_size must be 1-200');
  return cfg;
}

/**
 * HubSpot's answer as JSON, or its status as the contract's error: 401/403
 * unauthorized, 404 not-found, 429 rate-limited (for `Retry-After` seconds, else
 * 10), other 4xx invalid, 5xx unavailable.
 */
export function check(method, path, resp) {
  let body = null;
  try {
    body = JSON.parse(new TextDecoder().decode(resp.body));
  } catch {
    // Not JSON: an error page, or no body.
  }
  const why = `${method} ${path}: HTTP ${resp.status} ${body?.message ?? ''}`;
  const s = resp.status;
  if (s >= 200 && s < 300) return body;
  if (s === 401 || s === 403) throw fail('unauthorized', why);
  if (s === 404) throw fail('not-found', why);
  if (s === 429) {
    const after = Number(resp.headers.find(([k]) => k === 'retry-after')?.[1]);
    throw fail('rate-limited', Number.isInteger(after) && after >= 0 ? after : 10);
  }
  if (s >= 400 && s < 500) throw fail('invalid', why);
  throw fail('unavailable', why);
}

/** A HubSpot object id (digits), safe in a path. */
export function objectId(id) {
  if (!/^[0-9]+$/.test(id)) throw fail('invalid', `${JSON.stringify(id)} is not a HubSpot id`);
  return id;
}

/** The record's field `name` as text, when it has some. */
export function textField(record, name) {
  const f = record.fields.find((x) => x.name === name && x.value.tag === 'text' && x.value.val.trim() !== '');
  return f?.value.val;
}

/**
 * The HubSpot properties of a contact record (`name`, `phone`, `email`): the name's
 * first word is the first name, the rest the last name. Empty fields are left
 * out, so that a contact the host knows less about keeps what HubSpot has.
 */
export function contactProperties(record) {
  const props = {};
  const name = textField(record, 'name')?.trim();
  if (name !== undefined) {
    const i = name.indexOf(' ');
    props.firstname = i < 0 ? name : name.slice(0, i);
    props.lastname = i < 0 ? '' : name.slice(i + 1).trim();
  }
  for (const key of ['phone', 'email']) {
    const v = textField(record, key);
    if (v !== undefined) props[key] = v;
  }
  return props;
}

/** When HubSpot last changed the object, Unix ms. */
export function modified(object) {
  const p = object.properties ?? {};
  const t = p.lastmodifieddate ?? p.hs_lastmodifieddate ?? object.updatedAt;
  const ms = /^[0-9]+$/.test(t ?? '') ? Number(t) : Date.parse(t);
  return Number.isNaN(ms) ? undefined : ms;
}

/** A HubSpot contact as the host's record (`name`, `phone`, `email`). */
export function record(object) {
  const p = object.properties ?? {};
  const prop = (k) => (typeof p[k] === 'string' && p[k].trim() !== '' ? p[k].trim() : undefined);
  const name = [prop('firstname'), prop('lastname')].filter((x) => x !== undefined).join(' ');
  const fields = [];
  for (const [key, value] of [['name', name || undefined], ['phone', prop('phone')], ['email', prop('email')]]) {
    if (value !== undefined) fields.push({ name: key, value: { tag: 'text', val: value } });
  }
  const at = modified(object);
  return { object: 'contact', id: String(object.id), fields, updatedAt: at === undefined ? undefined : BigInt(at) };
}

/** The id and change time of an object HubSpot wrote (`pushed`). */
export function pushed(object) {
  if (typeof object?.id !== 'string') throw fail('failed', `HubSpot answered no id: ${JSON.stringify(object)}`);
  const at = modified(object);
  return { id: object.id, updatedAt: at === undefined ? undefined : BigInt(at) };
}

/**
 * Where a pull starts: the change time of the newest contact read, and the ids
 * read at exactly that time (a page can end among contacts changed in the same
 * millisecond). Text: `MS:ID,ID`; empty: from the start.
 */
export function parseCursor(text) {
  if (text === '') return { at: 0, ids: [] };
  const [at, ids = ''] = text.split(':');
  if (!/^[0-9]+$/.test(at)) throw fail('invalid', `${JSON.stringify(text)} is not a pull cursor`);
  return { at: Number(at), ids: ids.split(',').filter((i) => i !== '') };
}

export const cursorText = (c) => `${c.at}:${c.ids.join(',')}`;

/** The search for contacts changed from cursor `c` up to `until`, oldest first. */
export function changesSearch(c, until, limit) {
  const filters = [{ propertyName: 'lastmodifieddate', operator: 'LTE', value: String(until) }];
  if (c.at > 0) filters.push({ propertyName: 'lastmodifieddate', operator: 'GTE', value: String(c.at) });
  return {
    filterGroups: [{ filters }],
    properties: PROPERTIES,
    limit,
    sorts: [{ propertyName: 'lastmodifieddate', direction: 'ASCENDING' }],
  };
}

/** The records of a page of search `results` not read before, and the cursor after them. */
export function advance(c, results) {
  let next = { at: c.at, ids: [...c.ids] };
  const records = [];
  for (const object of results) {
    const at = modified(object);
    if (at === undefined || (at === c.at && c.ids.includes(String(object.id)))) continue;
    if (at > next.at) next = { at, ids: [] };
    next.ids.push(String(object.id));
    records.push(record(object));
  }
  return { records, next };
}
