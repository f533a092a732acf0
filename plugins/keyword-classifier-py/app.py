"""scrm reference classifier in Python: keyword and regex rules from the binding's
config become tags, an intent and a priority.

The same rules, config format and errors as plugins/keyword-classifier (Rust).
Built into a component by componentize-py against the `classifier` world of
scrm:plugin@0.1.2; docs/plugins.md ("Writing one in Python") has the commands.
"""

import json
import re
import tomllib

import wit_world
from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.classify import ClassifyError_InvalidConfig
from wit_world.imports import config

try:
    # componentize-py names the module after the interface (`types`) unless another
    # imported package has one of the same name: the classifier world also imports
    # wasi:http, whose `types` makes it `scrm_plugin_types`.
    from wit_world.imports import scrm_plugin_types as t
except ImportError:
    from wit_world.imports import types as t

PRIORITIES = ["low", "normal", "high", "urgent"]
CONFIG_FIELDS = ["defaults", "rules"]
RULE_FIELDS = ["tag", "keywords", "regex", "priority", "intent"]
# Unicode White_Space, as Rust's `char::is_whitespace` (str.isspace differs slightly).
WHITE_SPACE = frozenset(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
APOSTROPHES = frozenset("\u2019\u2018`\u00b4")


class ConfigError(Exception):
    """The configuration cannot be used; the text says where."""


class Rule:
    """A compiled rule."""

    def __init__(self, tag, intent, keywords, regex, priority):
        self.tag = tag
        self.intent = intent
        self.keywords = keywords
        self.regex = regex
        self.priority = priority


def normalise(text):
    """Lowercases, unifies apostrophes and collapses white space so that
    "Dov’è  il" matches "dov'è il"."""
    out = []
    last_space = True
    for c in text.lower():
        if c in APOSTROPHES:
            c = "'"
        if c in WHITE_SPACE:
            if not last_space:
                out.append(" ")
            last_space = True
        else:
            out.append(c)
            last_space = False
    return "".join(out)


def contains_at_word_start(hay, needle):
    """True when `needle` occurs in `hay` starting at a word boundary ("price"
    matches "prices" but not "spice"); occurrences are found left to right without
    overlap, as Rust's `str::match_indices` does."""
    if needle == "":
        return True
    i = hay.find(needle)
    while i >= 0:
        if i == 0 or not hay[i - 1].isalnum():
            return True
        i = hay.find(needle, i + len(needle))
    return False


def builtin():
    def rule(tag, keywords, priority=None):
        return Rule(tag, tag, [normalise(k) for k in keywords], None, priority)

    return [
        rule("price-inquiry", ["how much", "quanto costa", "quanto costano", "price", "prezzo"]),
        rule(
            "order-status",
            [
                "where is my order",
                "where's my order",
                "dov'è il mio pacco",
                "dove è il mio pacco",
                "dov'è il mio ordine",
            ],
        ),
        rule("complaint", ["complaint", "reclamo", "refund", "rimborso"], "high"),
        rule(
            "purchase-intent",
            [
                "voglio acquistare",
                "vorrei acquistare",
                "voglio comprare",
                "vorrei comprare",
                "voglio ordinare",
                "vorrei ordinare",
                "i want to buy",
                "i'd like to buy",
                "i would like to buy",
                "i want to order",
                "i'd like to order",
                "i would like to order",
                "i want to purchase",
                "i'd like to purchase",
                "i would like to purchase",
            ],
        ),
        rule(
            "discount-inquiry",
            [
                "sconto",
                "sconti",
                "scontat",
                "scontistica",
                "codice promo",
                "promozione",
                "promozioni",
                "discount",
                "coupon",
                "promo code",
                "voucher",
            ],
        ),
    ]


def describe(v):
    if v is None:
        return "null"
    if isinstance(v, list):
        return "an array"
    if isinstance(v, dict):
        return "a table"
    return f"{type(v).__name__} {v!r}"


def deny_unknown(obj, fields, fail):
    for key in obj:
        if key not in fields:
            expected = ", ".join(f"`{f}`" for f in fields)
            fail(f"unknown field `{key}`, expected one of {expected}")


def check_config(doc, fmt):
    """Checks the document's shape like the Rust plugin's serde structs
    (`deny_unknown_fields`; optional fields may be null in JSON)."""

    def fail(what):
        raise ConfigError(f"invalid {fmt} config: {what}")

    if not isinstance(doc, dict):
        fail(f"expected a table, found {describe(doc)}")
    deny_unknown(doc, CONFIG_FIELDS, fail)
    defaults = doc.get("defaults", True)
    if not isinstance(defaults, bool):
        fail(f"`defaults`: expected a boolean, found {describe(defaults)}")
    raw_rules = doc.get("rules", [])
    if not isinstance(raw_rules, list):
        fail(f"`rules`: expected an array, found {describe(raw_rules)}")
    rules = []
    for i, r in enumerate(raw_rules):

        def at(what, i=i):
            fail(f"rules[{i}]: {what}")

        if not isinstance(r, dict):
            at(f"expected a table, found {describe(r)}")
        deny_unknown(r, RULE_FIELDS, at)
        if "tag" not in r:
            at("missing field `tag`")
        if not isinstance(r["tag"], str):
            at(f"`tag`: expected a string, found {describe(r['tag'])}")
        keywords = r.get("keywords", [])
        if not isinstance(keywords, list) or not all(isinstance(k, str) for k in keywords):
            at(f"`keywords`: expected an array of strings, found {describe(keywords)}")
        for field in ("regex", "priority", "intent"):
            if r.get(field) is not None and not isinstance(r[field], str):
                at(f"`{field}`: expected a string, found {describe(r[field])}")
        rules.append(r)
    return defaults, rules


def parse_config(raw):
    """JSON when the text starts with `{`, TOML otherwise; None when empty."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"config is not UTF-8: {e}") from None
    trimmed = text.lstrip()
    if trimmed == "":
        return None
    if trimmed.startswith("{"):
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"invalid JSON config: {e}") from None
        return check_config(doc, "JSON")
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"invalid TOML config: {e}") from None
    return check_config(doc, "TOML")


def compile_rule(r):
    tag = r["tag"]
    keywords = r.get("keywords", [])
    regex = r.get("regex")
    priority = r.get("priority")
    if tag.strip() == "":
        raise ConfigError("tag must not be empty")
    if not keywords and regex is None:
        raise ConfigError(f"rule {json.dumps(tag, ensure_ascii=False)} needs keywords or a regex")
    compiled = None
    if regex is not None:
        try:
            compiled = re.compile(regex, re.IGNORECASE)
        except re.error as e:
            raise ConfigError(f"invalid regex {json.dumps(regex, ensure_ascii=False)}: {e}") from None
    if priority is not None and priority not in PRIORITIES:
        raise ConfigError(
            f"unknown priority {json.dumps(priority, ensure_ascii=False)} (low, normal, high, urgent)"
        )
    intent = r.get("intent")
    return Rule(tag, tag if intent is None else intent, [normalise(k) for k in keywords], compiled, priority)


def rule_set_from_config(raw):
    """Builds the rules from the raw binding configuration (empty: built-ins)."""
    parsed = parse_config(raw)
    defaults, raw_rules = parsed if parsed is not None else (True, [])
    rules = builtin() if defaults else []
    for i, r in enumerate(raw_rules):
        try:
            rules.append(compile_rule(r))
        except ConfigError as e:
            raise ConfigError(f"rules[{i}]: {e}") from None
    return rules


WIT_PRIORITY = {
    "low": t.Priority.LOW,
    "normal": t.Priority.NORMAL,
    "high": t.Priority.HIGH,
    "urgent": t.Priority.URGENT,
}


def classify_text(rules, text):
    """Applies every rule to `text`; each matching rule adds its tag once. The
    first matching rule gives the intent; the highest priority of the matches wins."""
    hay = normalise(text)
    tags = []
    intent = None
    priority = None
    for rule in rules:
        hit = any(contains_at_word_start(hay, k) for k in rule.keywords) or (
            rule.regex is not None and rule.regex.search(hay) is not None
        )
        if not hit:
            continue
        if rule.tag not in tags:
            tags.append(rule.tag)
        if intent is None:
            intent = t.Intent(name=rule.intent, confidence=1.0)
        if rule.priority is not None and (
            priority is None or PRIORITIES.index(rule.priority) > PRIORITIES.index(priority)
        ):
            priority = rule.priority
    return t.Classification(
        tags=tags,
        intent=intent,
        entities=[],
        sentiment=None,
        priority=None if priority is None else WIT_PRIORITY[priority],
    )


def content_text(content):
    """The human-readable text of a message, like the Rust SDK's `Content::text()`."""
    if isinstance(content, t.Content_Text):
        return content.value
    if isinstance(
        content,
        (t.Content_Image, t.Content_Audio, t.Content_Voice, t.Content_Video, t.Content_Document, t.Content_Sticker),
    ):
        return content.value.caption
    if isinstance(content, (t.Content_InteractiveReply, t.Content_Button)):
        return content.value.title
    if isinstance(content, t.Content_Order):
        return content.value.text
    if isinstance(content, t.Content_System):
        return content.value.body
    if isinstance(content, t.Content_Location):
        return content.value.name if content.value.name is not None else content.value.address
    return None


class WitWorld(wit_world.WitWorld):
    """The world itself exports no free functions."""


# The rule set of the last configuration seen: an instance the host keeps warm
# (isolation = "warm") serves many messages, and building the rules again for each
# would cost more than classifying.
_cached = None


def rules_for(raw):
    """The rule set of `raw`, built once per configuration."""
    global _cached
    if _cached is None or _cached[0] != raw:
        _cached = (raw, rule_set_from_config(raw))
    return _cached[1]


class Classify(exports.Classify):
    """The exported `scrm:plugin/classify` interface."""

    def classify(self, msg: t.Message, sender: t.Contact) -> t.Classification:
        try:
            rules = rules_for(config.get())
        except ConfigError as e:
            raise Err(ClassifyError_InvalidConfig(str(e))) from None
        text = content_text(msg.content)
        if text is None:
            return t.Classification(tags=[], intent=None, entities=[], sentiment=None, priority=None)
        return classify_text(rules, text)
