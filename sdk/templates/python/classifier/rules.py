"""The classifier's rules: each tags the messages whose text contains one of its
words, ignoring case. The configuration is TOML or JSON."""

import json
import tomllib


class ConfigError(Exception):
    """Why the binding's configuration cannot be used."""


def parse_config(raw: bytes) -> list[tuple[str, list[str]]]:
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
        if not isinstance(r, dict) or not isinstance(r.get("tag"), str) or not isinstance(r.get("words"), list):
            raise ConfigError(f"invalid config: rules[{i}] needs a `tag` and a list of `words`")
        out.append((r["tag"], [str(w).lower() for w in r["words"]]))
    return out


def tags_for(rules: list[tuple[str, list[str]]], text: str) -> list[str]:
    """The tags of `text`: each matching rule's tag once, in rule order."""
    lower = text.lower()
    tags: list[str] = []
    for tag, words in rules:
        if tag and tag not in tags and any(w in lower for w in words):
            tags.append(tag)
    return tags
