// {{name}}: a scrm connector for HubSpot's CRM v3 API (contacts and notes). The
// `{{world}}` world of scrm:plugin@{{wit_version}}: this module is the contract,
// each export in a few calls; what is HubSpot's is in ./hubspot.js and
// ./webhook.js (plain JavaScript, `npm test`), the blocking HTTP in ./http.js.
//
// The access token is never in the configuration: the host adds it to each request
// (a tenant secret named as a credential of the binding's HTTP policy).

import { now } from 'scrm:plugin/clock@{{wit_version}}';
import { get as getConfig } from 'scrm:plugin/config@{{wit_version}}';
import { hmacSha256 } from 'scrm:plugin/secrets@{{wit_version}}';
import { HttpError, request } from './http.js';
import * as hubspot from './hubspot.js';
import { contactIds, verify } from './webhook.js';

const CONTACTS = '/crm/v3/objects/contacts';
const NOTES = '/crm/v3/objects/notes';
/** HubSpot's association type of a note to a contact. */
const NOTE_TO_CONTACT = 202;

const { fail } = hubspot;

/** Sends `method path` with a JSON body; HubSpot's answer as JSON, or the contract's error. */
function call(cfg, method, path, body) {
  let resp;
  try {
    resp = request(
      method,
      cfg.base_url.replace(/\/+$/, '') + path,
      [
        ['accept', 'application/json'],
        ['content-type', 'application/json'],
      ],
      body === undefined ? undefined : JSON.stringify(body),
    );
  } catch (e) {
    if (!(e instanceof HttpError)) throw e;
    if (e.code === 'HTTP-request-denied') throw fail('invalid', `${method} ${path}: refused by the binding's HTTP policy`);
    throw fail('unavailable', `${method} ${path}: ${e.code}`);
  }
  return hubspot.check(method, path, resp);
}

/** Runs `f` with the configuration; anything but the contract's errors becomes `failed`. */
function withConfig(f) {
  try {
    return f(hubspot.parseConfig(getConfig()));
  } catch (e) {
    if (typeof e?.tag === 'string') throw e;
    throw fail('failed', String(e?.stack ?? e));
  }
}

function update(cfg, id, props) {
  return hubspot.pushed(call(cfg, 'PATCH', `${CONTACTS}/${hubspot.objectId(id)}`, { properties: props }));
}

/** The id of the first `kind` object whose `prop` is `value`, if HubSpot has one. */
function findBy(cfg, path, prop, value) {
  const search = { filterGroups: [{ filters: [{ propertyName: prop, operator: 'EQ', value }] }], limit: 1 };
  return call(cfg, 'POST', `${path}/search`, search)?.results?.[0]?.id;
}

function readContacts(cfg, ids) {
  const out = [];
  // HubSpot's batch endpoints take at most 100 inputs.
  for (let i = 0; i < ids.length; i += 100) {
    const inputs = ids.slice(i, i + 100).map((id) => ({ id }));
    const read = call(cfg, 'POST', `${CONTACTS}/batch/read`, { inputs, properties: hubspot.PROPERTIES });
    out.push(...(read?.results ?? []).map(hubspot.record));
  }
  return out;
}

/** The exported `scrm:plugin/connect` interface. */
export const connect = {
  /** By id when the host knows it, else by phone, else a new contact. */
  pushContact(record) {
    return withConfig((cfg) => {
      const props = hubspot.contactProperties(record);
      if (record.id !== undefined) {
        try {
          return update(cfg, record.id, props);
        } catch (e) {
          // Deleted or merged away in HubSpot since: look for it by phone.
          if (e.tag !== 'not-found') throw e;
        }
      }
      const phone = hubspot.textField(record, 'phone');
      const found = phone === undefined ? undefined : findBy(cfg, CONTACTS, 'phone', phone);
      if (found !== undefined) return update(cfg, found, props);
      return hubspot.pushed(call(cfg, 'POST', CONTACTS, { properties: props }));
    });
  },

  /** A note on the contact carrying the write's key; a retry looks the key up first. */
  pushNote(contactId, write, record) {
    return withConfig((cfg) => {
      if (write.retried) {
        const found = findBy(cfg, NOTES, cfg.key_property, write.key);
        if (found !== undefined) return { id: found, updatedAt: undefined };
      }
      const text = hubspot.textField(record, 'text');
      if (text === undefined) throw fail('invalid', 'the note has no text field');
      const at = record.fields.find((f) => f.name === 'timestamp' && ['timestamp', 'integer'].includes(f.value.tag));
      const properties = {
        hs_note_body: text,
        hs_timestamp: String(at?.value.val ?? now()),
        [cfg.key_property]: write.key,
      };
      const associations = [
        {
          to: { id: hubspot.objectId(contactId) },
          types: [{ associationCategory: 'HUBSPOT_DEFINED', associationTypeId: NOTE_TO_CONTACT }],
        },
      ];
      return hubspot.pushed(call(cfg, 'POST', NOTES, { properties, associations }));
    });
  },

  pushDeal(_contactId, _write, _record) {
    throw fail('invalid', 'this connector writes no deals (see its README)');
  },

  readContacts(ids) {
    return withConfig((cfg) => readContacts(cfg, ids));
  },

  /** None: this connector writes no deals, so none of the ids is one of its deals. */
  readDeals(_ids) {
    return [];
  },

  /** Contacts by `lastmodifieddate`, oldest first, with the search API. */
  pullChanges(cursor) {
    return withConfig((cfg) => {
      const from = hubspot.parseCursor(cursor);
      const until = Number(now()) - cfg.pull_settle_ms;
      if (until <= from.at) return { records: [], replies: [], nextCursor: cursor, more: false };
      const page = call(cfg, 'POST', `${CONTACTS}/search`, hubspot.changesSearch(from, until, cfg.page_size));
      const results = page?.results ?? [];
      const { records, next } = hubspot.advance(from, results);
      const more = results.length >= cfg.page_size || page?.paging?.next !== undefined;
      return { records, replies: [], nextCursor: hubspot.cursorText(next), more };
    });
  },

  /** The contacts a signed delivery names, read as HubSpot has them now. */
  parseWebhook(headers, body) {
    return withConfig((cfg) => {
      verify(cfg, headers, body, Number(now()), hmacSha256);
      const ids = contactIds(body);
      return ids.length === 0 ? [] : readContacts(cfg, ids);
    });
  },
};

/** The exported `scrm:plugin/order-lookup` interface: HubSpot keeps no orders here. */
export const orderLookup = {
  findOrders(_contactId, _since, _limit) {
    throw fail('invalid', 'this connector reads no orders');
  },
};
