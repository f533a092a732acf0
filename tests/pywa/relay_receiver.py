"""An existing pywa bot, receiving the webhooks scrm relays (tests/tests/relay.rs).

pywa checks each delivery's X-Hub-Signature-256 with the app secret and parses it
with its own handlers, as it does behind Meta. The first FAIL requests are answered
500 (the bot is down), so scrm's retries are seen. Prints `listening PORT`, then
one JSON line per message pywa handled and per request it refused.

    python relay_receiver.py APP_SECRET PHONE_ID FAIL
"""

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pywa import WhatsApp, types

secret, phone_id, fail = sys.argv[1], sys.argv[2], int(sys.argv[3])
wa = WhatsApp(phone_id=phone_id, token="unused", app_secret=secret, verify_token="unused")
lock = threading.Lock()
seen = {"requests": 0}


def say(line: dict) -> None:
    with lock:
        print(json.dumps(line), flush=True)


@wa.on_message()
def on_message(_: WhatsApp, msg: types.Message) -> None:
    say({"message": msg.id, "from": msg.from_user.wa_id, "text": msg.text})


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        with lock:
            seen["requests"] += 1
            down = seen["requests"] <= fail
        if down:
            self.answer(500, "down")
            return
        refused = wa.webhook_update_validator(body, self.headers.get("x-hub-signature-256"))
        if refused:
            say({"refused": refused[1]})
            self.answer(refused[1], refused[0])
            return
        text, status = wa.webhook_update_handler(body)
        self.answer(status, text)

    def answer(self, status: int, text: str) -> None:
        self.send_response(status)
        self.end_headers()
        self.wfile.write(text.encode())

    def log_message(self, *args) -> None:
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"listening {server.server_address[1]}", flush=True)
server.serve_forever()
