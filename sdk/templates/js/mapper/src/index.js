// {{name}}: a scrm mapper. The `{{world}}` world of scrm:plugin@{{wit_version}}:
// this module binds the host's interfaces; the mapping itself is in ./mapping.js,
// which runs under plain node too (`npm test`).

import { get as getConfig } from 'scrm:plugin/config@{{wit_version}}';
import { changesFrom, ConfigError, contactRecord, dealRecord, noteRecord, parseConfig } from './mapping.js';

/** The configuration, or the contract's error. */
function config() {
  try {
    return parseConfig(getConfig());
  } catch (e) {
    if (e instanceof ConfigError) throw { tag: 'invalid-config', val: e.message };
    throw { tag: 'failed', val: String(e) };
  }
}

/** The exported `scrm:plugin/mapping` interface. */
export const mapping = {
  contactToCrm(c, _facts) {
    return contactRecord(config(), c);
  },
  conversationToCrm(_conv, c, signal) {
    return dealRecord(config(), c, signal);
  },
  messageToCrm(msg, _c, _found) {
    return noteRecord(config(), msg);
  },
  crmToContact(record) {
    return changesFrom(config(), record);
  },
};
