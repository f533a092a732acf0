// The mapping itself, in the contract's types as componentize-js gives them
// (records as objects, variants as `{ tag, val }`, u64/s64 as BigInt). The
// configuration is TOML (read with the npm package smol-toml, bundled into the
// component by `scrm plugin build`) or JSON.

import { parse as parseToml } from 'smol-toml';

/** Why the binding's configuration cannot be used. */
export class ConfigError extends Error {}

/**
 * The binding's configuration (bytes, as the host gives them), defaults filled in.
 * @param {Uint8Array} raw
 */
export function parseConfig(raw) {
  const text = new TextDecoder().decode(raw).trim();
  let doc = {};
  try {
    if (text !== '') doc = text.startsWith('{') ? JSON.parse(text) : parseToml(text);
  } catch (e) {
    throw new ConfigError(`invalid config: ${String(e.message).split('\n')[0]}`);
  }
  const cfg = {
    contact_object: doc.contact_object ?? 'contact',
    note_object: doc.note_object ?? 'note',
    deal_object: doc.deal_object,
    pull_fields: doc.pull_fields ?? [],
    fields: { name: doc.fields?.name ?? 'name', phone: doc.fields?.phone ?? 'phone' },
    defaults: doc.defaults ?? {},
  };
  if (!Array.isArray(cfg.pull_fields)) throw new ConfigError('invalid config: `pull_fields` must be a list');
  if (typeof cfg.defaults !== 'object') throw new ConfigError('invalid config: `defaults` must be a table');
  return cfg;
}

const field = (name, value) => ({ name, value });
const textOrEmpty = (t) => (t && t.trim() !== '' ? { tag: 'text', val: t } : { tag: 'empty' });

/** A CRM value as text, when it has some. */
function valueText(v) {
  const t = ['text', 'integer', 'number'].includes(v.tag) ? String(v.val).trim() : '';
  return t === '' ? undefined : t;
}

/** The human-readable text of a message, if it has one. */
export function textOf(content) {
  switch (content.tag) {
    case 'text':
      return content.val;
    case 'image':
    case 'video':
    case 'document':
      return content.val.caption;
    case 'interactive-reply':
    case 'button':
      return content.val.title;
    default:
      return undefined;
  }
}

/** The contact's CRM record, with the configured defaults filled in (`mapped`). */
export function contactRecord(cfg, c) {
  const fields = [field(cfg.fields.name, textOrEmpty(c.name)), field(cfg.fields.phone, textOrEmpty(c.phone))];
  const defaulted = [];
  for (const [name, value] of Object.entries(cfg.defaults)) {
    const f = fields.find((x) => x.name === name);
    if (f && f.value.tag !== 'empty') continue;
    if (f) f.value = { tag: 'text', val: String(value) };
    else fields.push(field(name, { tag: 'text', val: String(value) }));
    defaulted.push(name);
  }
  return { record: { object: cfg.contact_object, id: undefined, fields, updatedAt: undefined }, defaulted };
}

/** The note for one message: `[WhatsApp, customer] text`, with its id, direction and time. */
export function noteRecord(cfg, msg) {
  const inbound = msg.direction === 'inbound';
  const body = textOf(msg.content) ?? '(no text)';
  return {
    object: cfg.note_object,
    id: undefined,
    fields: [
      field('text', { tag: 'text', val: `[WhatsApp, ${inbound ? 'customer' : 'business'}] ${body}` }),
      field('wamid', { tag: 'text', val: msg.id }),
      field('direction', { tag: 'text', val: inbound ? 'inbound' : 'outbound' }),
      field('timestamp', { tag: 'timestamp', val: msg.timestamp }),
    ],
    updatedAt: undefined,
  };
}

/** The deal a sales signal opens or updates (one open per contact); none for service signals. */
export function dealRecord(cfg, c, signal) {
  if (!cfg.deal_object || signal.kind !== 'sales') return undefined;
  const fields = [field('name', { tag: 'text', val: `WhatsApp: ${c.name ?? c.phone ?? 'customer'}` })];
  const text = textOf(signal.message.content);
  if (text !== undefined) fields.push(field('message', { tag: 'text', val: text }));
  return { key: `deal:${c.id}`, record: { object: cfg.deal_object, id: undefined, fields, updatedAt: undefined } };
}

/**
 * What a CRM record changes on the host's contact: its name and phone when the
 * record has them, and the `pull_fields` (a field named twice: the last wins).
 */
export function changesFrom(cfg, record) {
  const changes = { name: undefined, phone: undefined, fields: [] };
  for (const f of record.fields) {
    if (f.name === cfg.fields.name) changes.name = valueText(f.value) ?? changes.name;
    else if (f.name === cfg.fields.phone) changes.phone = valueText(f.value) ?? changes.phone;
    else if (cfg.pull_fields.includes(f.name)) {
      changes.fields = changes.fields.filter((g) => g.name !== f.name);
      changes.fields.push(f);
    }
  }
  return changes;
}
