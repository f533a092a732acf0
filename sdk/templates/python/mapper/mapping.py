"""The mapping itself, on plain Python values so that it runs under plain Python too
(`app.py` converts the contract's types): a CRM record's fields are a list of
`(name, value)` pairs whose values are `str`, `int`, `float`, `bool`, `Timestamp` or
`None` (explicitly empty). The configuration is TOML or JSON."""

import json
import tomllib
from dataclasses import dataclass, field


class ConfigError(Exception):
    """Why the binding's configuration cannot be used."""


@dataclass(frozen=True)
class Timestamp:
    """A point in time, Unix ms."""

    ms: int


@dataclass
class Config:
    """The binding's configuration; every key optional."""

    contact_object: str = "contact"
    note_object: str = "note"
    deal_object: str | None = None
    pull_fields: list[str] = field(default_factory=list)
    name_field: str = "name"
    phone_field: str = "phone"
    defaults: dict[str, str] = field(default_factory=dict)


def parse_config(raw: bytes) -> Config:
    """The binding's configuration (bytes, as the host gives them)."""
    text = raw.decode("utf-8", errors="replace").strip()
    try:
        doc = (json.loads(text) if text.startswith("{") else tomllib.loads(text)) if text else {}
    except ValueError as e:
        raise ConfigError(f"invalid config: {e}") from None
    fields = doc.get("fields", {})
    cfg = Config(
        contact_object=doc.get("contact_object", "contact"),
        note_object=doc.get("note_object", "note"),
        deal_object=doc.get("deal_object"),
        pull_fields=doc.get("pull_fields", []),
        name_field=fields.get("name", "name"),
        phone_field=fields.get("phone", "phone"),
        defaults=doc.get("defaults", {}),
    )
    if not isinstance(cfg.pull_fields, list):
        raise ConfigError("invalid config: `pull_fields` must be a list")
    if not isinstance(cfg.defaults, dict):
        raise ConfigError("invalid config: `defaults` must be a table")
    return cfg


def _text_or_empty(value: str | None) -> str | None:
    return value if value and value.strip() else None


def contact_fields(cfg: Config, name: str | None, phone: str | None):
    """The contact's CRM fields with the configured defaults filled in, and the
    names of the fields that were defaulted."""
    fields = [(cfg.name_field, _text_or_empty(name)), (cfg.phone_field, _text_or_empty(phone))]
    defaulted = []
    for key, value in cfg.defaults.items():
        i = next((i for i, (n, _) in enumerate(fields) if n == key), None)
        if i is not None and fields[i][1] is not None:
            continue
        if i is None:
            fields.append((key, str(value)))
        else:
            fields[i] = (key, str(value))
        defaulted.append(key)
    return fields, defaulted


def note_fields(inbound: bool, wamid: str, text: str | None, timestamp: int):
    """The note for one message: `[WhatsApp, customer] text`, with its id,
    direction and time."""
    who = "customer" if inbound else "business"
    return [
        ("text", f"[WhatsApp, {who}] {text if text is not None else '(no text)'}"),
        ("wamid", wamid),
        ("direction", "inbound" if inbound else "outbound"),
        ("timestamp", Timestamp(timestamp)),
    ]


def deal_fields(cfg: Config, contact_id: int, who: str | None, sales: bool, text: str | None):
    """The key and fields of the deal a sales signal opens or updates (one open per
    contact); None for service signals or when no deal object is configured."""
    if not cfg.deal_object or not sales:
        return None
    fields = [("name", f"WhatsApp: {who or 'customer'}")]
    if text is not None:
        fields.append(("message", text))
    return f"deal:{contact_id}", fields


def _value_text(value) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    text = str(value).strip()
    return text or None


def changes_from(cfg: Config, fields):
    """What a CRM record changes on the host's contact: its name and phone when the
    record has them, and the `pull_fields` (a field named twice: the last wins)."""
    name = phone = None
    pulled: dict[str, object] = {}
    for key, value in fields:
        if key == cfg.name_field:
            name = _value_text(value) or name
        elif key == cfg.phone_field:
            phone = _value_text(value) or phone
        elif key in cfg.pull_fields:
            pulled.pop(key, None)
            pulled[key] = value
    return name, phone, list(pulled.items())
