// scrm reference classifier in JavaScript: keyword and regex rules from the
// binding's config become tags, an intent and a priority. The same rules, config
// format and errors as plugins/keyword-classifier (Rust); see ./rules.js.
//
// Built into a component by componentize-js against the `classifier` world of
// scrm:plugin@0.1.2 (`npm run build`).

import { get as getConfig } from 'scrm:plugin/config@0.1.2';
import { classifyText, ConfigError, ruleSetFromConfig } from './rules.js';

/** The human-readable text of a message, like the Rust SDK's `Content::text()`. */
function contentText(content) {
  switch (content.tag) {
    case 'text':
      return content.val;
    case 'image':
    case 'audio':
    case 'voice':
    case 'video':
    case 'document':
    case 'sticker':
      return content.val.caption;
    case 'interactive-reply':
    case 'button':
      return content.val.title;
    case 'order':
      return content.val.text;
    case 'system':
      return content.val.body;
    case 'location':
      return content.val.name ?? content.val.address;
    default:
      return undefined;
  }
}

/** The rule set of the last configuration seen, and its bytes. */
let cached;

/**
 * The rule set of `raw`, built once per configuration: an instance the host keeps
 * warm (isolation = "warm") serves many messages, and compiling the rules' regexes
 * again for each would cost more than classifying.
 * @param {Uint8Array} raw
 */
function rulesFor(raw) {
  const same =
    cached !== undefined &&
    cached.raw.length === raw.length &&
    cached.raw.every((b, i) => b === raw[i]);
  if (!same) cached = { raw, rules: ruleSetFromConfig(raw) };
  return cached.rules;
}

/** The exported `scrm:plugin/classify` interface. */
export const classify = {
  classify(msg, _sender) {
    let rules;
    try {
      rules = rulesFor(getConfig());
    } catch (e) {
      if (e instanceof ConfigError) throw { tag: 'invalid-config', val: e.message };
      throw { tag: 'failed', val: String(e?.stack ?? e) };
    }
    const text = contentText(msg.content);
    if (text === undefined) {
      return { tags: [], intent: undefined, entities: [], sentiment: undefined, priority: undefined };
    }
    return classifyText(rules, text);
  },
};
