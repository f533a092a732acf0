"""The responder's rules: the first whose words the message contains (ignoring case)
answers it and tags it. The configuration is TOML or JSON."""

import json
import tomllib


class ConfigError(Exception):
    """Why the binding's configuration cannot be used."""


def parse_config(raw: bytes) -> list[dict]:
    """The rules of the binding's configuration (bytes, as the host gives them)."""
    text = raw.decode("utf-8", errors="replace").strip()
    if not text:
        return []
    try:
        doc = json.loads(text) if text.startswith("{") else tomllib.loads(text)
    except ValueError as e:
        raise ConfigError(f"invalid config: {e}") from None
    rules = doc.get("rules", [])
    if not isinstance(rules, list):
        raise ConfigError("invalid config: `rules` must be a list")
    out = []
    for i, r in enumerate(rules):
        if not isinstance(r, dict) or not isinstance(r.get("words"), list) or not isinstance(r.get("reply"), str):
            raise ConfigError(f"invalid config: rules[{i}] needs a list of `words` and a `reply`")
        tag = r.get("tag") if isinstance(r.get("tag"), str) and r.get("tag") else None
        out.append({"words": [str(w).lower() for w in r["words"]], "reply": r["reply"], "tag": tag})
    return out


def actions_for(rules: list[dict], text: str) -> list[tuple[str, str]]:
    """What to do about a message with `text`: the first matching rule's
    ("tag", tag) and ("reply", text), or nothing."""
    lower = text.lower()
    for r in rules:
        if any(w in lower for w in r["words"]):
            return ([("tag", r["tag"])] if r["tag"] else []) + [("reply", r["reply"])]
    return []
