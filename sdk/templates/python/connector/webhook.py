"""HubSpot's webhooks: the v3 signature, base64(HMAC-SHA256(client secret, `POST` +
URL + body + timestamp)) in `X-HubSpot-Signature-v3`, with the timestamp (Unix ms)
in `X-HubSpot-Request-Timestamp`, and an array of events naming objects. The HMAC
is computed by the host with the tenant secret (`hmac`, the scrm:plugin/secrets
import), which never enters the plugin."""

import base64
import binascii
import hmac as constant_time
import json

from hubspot import Config, Failure

# Deliveries older than this are refused (HubSpot: five minutes).
MAX_AGE_MS = 5 * 60 * 1000


def verify(cfg: Config, headers: list[tuple[str, str]], body: bytes, now_ms: int, hmac) -> None:
    """Checks a delivery's signature and age; `hmac(secret_name, data)` is the
    host's HMAC-SHA256 with the tenant secret. Raises the contract's `unauthorized`
    for a missing, stale or wrong signature."""
    if not cfg.webhook_secret or not cfg.webhook_url:
        raise Failure("invalid", "webhooks are not configured: set webhook_secret and webhook_url")
    got = {k: v.strip() for k, v in headers}
    signature = got.get("x-hubspot-signature-v3")
    timestamp = got.get("x-hubspot-request-timestamp", "")
    if not signature:
        raise Failure("unauthorized", "HubSpot webhook: unsigned")
    if not timestamp.isdigit():
        raise Failure("unauthorized", "HubSpot webhook: no timestamp")
    if now_ms - int(timestamp) > MAX_AGE_MS:
        raise Failure("unauthorized", "HubSpot webhook: older than 5 minutes")
    try:
        expected = base64.b64decode(signature, validate=True)
    except binascii.Error:
        raise Failure("unauthorized", "HubSpot webhook: the signature is not base64") from None
    signed = b"POST" + cfg.webhook_url.encode() + body + timestamp.encode()
    try:
        mac = hmac(cfg.webhook_secret, signed)
    except Exception as e:  # noqa: BLE001 - the host's reason, whatever its type
        raise Failure("failed", f"cannot check the signature: {getattr(e, 'value', e)}") from None
    if not constant_time.compare_digest(mac, expected):
        raise Failure("unauthorized", "HubSpot webhook: the signature does not match")


def contact_ids(body: bytes) -> list[str]:
    """The ids of the contacts a delivery's `contact.*` events name, each once."""
    try:
        events = json.loads(body)
    except ValueError as e:
        raise Failure("invalid", f"not HubSpot's event array: {e}") from None
    if not isinstance(events, list):
        raise Failure("invalid", "not HubSpot's event array")
    ids: list[str] = []
    for e in events:
        if not isinstance(e, dict) or not str(e.get("subscriptionType", "")).startswith("contact."):
            continue
        oid = e.get("objectId")
        if oid is not None and str(oid) not in ids:
            ids.append(str(oid))
    return ids
