// {{name}}: a scrm responder. The `{{world}}` world of scrm:plugin@{{wit_version}}:
// this module binds the host's interfaces; the rules themselves are in ./rules.js,
// which runs under plain node too (`npm test`).

import { get as getConfig } from 'scrm:plugin/config@{{wit_version}}';
import { actionsFor, ConfigError, parseConfig } from './rules.js';

/** The exported `scrm:plugin/respond` interface. */
export const respond = {
  respond(e) {
    let rules;
    try {
      rules = parseConfig(getConfig());
    } catch (err) {
      if (err instanceof ConfigError) throw { tag: 'invalid-config', val: err.message };
      throw { tag: 'failed', val: String(err) };
    }
    const content = e.message.content;
    return content.tag === 'text' ? actionsFor(rules, content.val) : [];
  },
};
