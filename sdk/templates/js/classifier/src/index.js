// {{name}}: a scrm classifier. The `{{world}}` world of scrm:plugin@{{wit_version}}:
// this module binds the host's interfaces; the rules themselves are in ./rules.js,
// which runs under plain node too (`npm test`).

import { get as getConfig } from 'scrm:plugin/config@{{wit_version}}';
import { ConfigError, parseConfig, tagsFor } from './rules.js';

/** The human-readable text of a message, if it has one. */
function textOf(content) {
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

/** The exported `scrm:plugin/classify` interface. */
export const classify = {
  classify(msg, _sender) {
    let config;
    try {
      config = parseConfig(getConfig());
    } catch (e) {
      if (e instanceof ConfigError) throw { tag: 'invalid-config', val: e.message };
      throw { tag: 'failed', val: String(e) };
    }
    const text = textOf(msg.content);
    return {
      tags: text === undefined ? [] : tagsFor(config, text),
      intent: undefined,
      entities: [],
      sentiment: undefined,
      priority: undefined,
    };
  },
};
