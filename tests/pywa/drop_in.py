"""pywa against scrm's drop-in Cloud API endpoint (tests/tests/cloud_api.rs).

An unchanged pywa client, its session's base URL pointed at scrm and an scrm token
as its access token, sends each message type and catches the errors pywa defines.
Prints one JSON object: for each step, what pywa returned or raised.

    python drop_in.py BASE_URL TOKEN PHONE_ID OPEN_CONTACT CLOSED_CONTACT INBOUND_WAMID JPEG WABA_ID
"""

import hashlib
import json
import pathlib
import sys

from pywa import WhatsApp, errors
from pywa.types import Button
from pywa.types.templates import TemplateLanguage


def client(base: str, token: str, phone_id: str) -> WhatsApp:
    wa = WhatsApp(phone_id=phone_id, token=token)
    # The one change a user makes: the base URL, with the version pywa uses.
    version = str(wa.api._session.base_url).rstrip("/").rsplit("/", 1)[-1]
    wa.api._session.base_url = f"{base}/{version}"
    return wa


def attempt(call) -> dict:
    try:
        result = call()
    except errors.WhatsAppError as e:
        return {
            "error": type(e).__name__,
            "code": e.code,
            "status": e.status_code,
            "details": e.details,
        }
    if isinstance(result, bool) or not hasattr(result, "id"):
        return {"ok": bool(result)}
    return {"id": result.id, "to": result.chat.id, "input": result.input}


def download(wa: WhatsApp, jpeg: str) -> dict:
    """Uploads a file, asks where it is, downloads it: what pywa saw."""
    media = wa.upload_media(media=pathlib.Path(jpeg), mime_type="image/jpeg")
    where = wa.get_media_url(media.id)
    data = wa.get_media_bytes(where.url)
    return {
        "id": media.id,
        "sha256_matches": hashlib.sha256(data).hexdigest() == where.sha256,
        "size_matches": len(data) == where.file_size,
        "mime_type": where.mime_type,
    }


def main() -> None:
    base, token, phone_id, open_to, closed_to, inbound, jpeg, waba = sys.argv[1:9]
    wa = client(base, token, phone_id)
    steps = {
        "text": lambda: wa.send_message(to=open_to, text="Your order has shipped"),
        "image": lambda: wa.send_image(
            to=open_to, image="https://example.com/parcel.jpg", caption="Packed"
        ),
        # pywa uploads the file (POST /{phone_id}/media), then sends it by id.
        "uploaded": lambda: wa.send_image(
            to=open_to, image=pathlib.Path(jpeg), mime_type="image/jpeg"
        ),
        "buttons": lambda: wa.send_message(
            to=open_to,
            text="Was the delivery on time?",
            buttons=[Button("Yes", callback_data="yes"), Button("No", callback_data="no")],
        ),
        "reaction": lambda: wa.send_reaction(to=open_to, emoji="👍", message_id=inbound),
        "template": lambda: wa.send_template(
            to=closed_to, name="order_update", language=TemplateLanguage.ENGLISH_US
        ),
        "outside_window": lambda: wa.send_message(to=closed_to, text="Hello again"),
        "read": lambda: wa.mark_message_as_read(message_id=inbound),
        "typing": lambda: wa.indicate_typing(message_id=inbound),
    }
    out = {name: attempt(step) for name, step in steps.items()}
    out["download"] = download(wa, jpeg)
    templates = wa.get_templates(waba_id=waba)
    out["templates"] = sorted(f"{t.name}/{t.language}" for t in templates)
    stranger = client(base, "scrm_not-a-token", phone_id)
    out["bad_token"] = attempt(lambda: stranger.send_message(to=open_to, text="hi"))
    other = client(base, token, "999000111")
    out["unknown_number"] = attempt(lambda: other.send_message(to=open_to, text="hi"))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
