"""A local stand-in for the WeCom server API (127.0.0.1, a random port, a thread), following the
documented request/response shapes of the two calls the chat archive source makes:

* ``GET /cgi-bin/gettoken?corpid=ID&corpsecret=SECRET`` →
  ``{"errcode":0,"errmsg":"ok","access_token":"…","expires_in":7200}``; a wrong corpid or secret →
  ``{"errcode":40001,"errmsg":"invalid credential"}`` (40013 for an unknown corpid).
* ``POST /cgi-bin/msgaudit/groupchat/get?access_token=TOKEN`` with JSON ``{"roomid":"…"}`` →
  ``{"errcode":0,"errmsg":"ok","roomname":"…","creator":"…","room_create_time":…,"notice":"…",
  "members":[{"memberid":"…","jointime":…}]}``; an unknown token → 40014 (invalid access_token), an
  expired one → 42001; an unknown room → 301052 (as a stand-in: the real code is not documented here).

WeCom answers errors with HTTP 200 and an ``errcode``; so does this server. :meth:`expire_tokens`
makes every issued token answer 42001; :meth:`fail_next` makes the next request (to a path) answer
a given status and body. ``requests`` records ``(method, path, query, body)`` for the tests.
"""

from __future__ import annotations

import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class WeComServer:
    def __init__(self, corp_id: str, secret: str) -> None:
        self.corp_id = corp_id
        self.secret = secret
        self.rooms: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, dict[str, list[str]], Any]] = []
        self.tokens: dict[str, bool] = {}  # token → still valid
        self.expires_in = 7200
        self._failures: list[tuple[str | None, int, Any]] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def add_room(self, roomid: str, roomname: str, creator: str, members: list[Any]) -> None:
        """``members``: member ids, as strings or ints (some SDKs type them int)."""
        self.rooms[roomid] = {
            "roomname": roomname,
            "creator": creator,
            "room_create_time": 1735600000,
            "notice": "",
            "members": [{"memberid": m, "jointime": 1735600000 + i} for i, m in enumerate(members)],
        }

    def expire_tokens(self) -> None:
        with self._lock:
            for token in self.tokens:
                self.tokens[token] = False

    def fail_next(self, status: int, body: Any, *, path: str | None = None) -> None:
        """The next request (to ``path``, if given) answers ``status`` and ``body`` instead."""
        with self._lock:
            self._failures.append((path, status, body))

    def count(self, path: str) -> int:
        return sum(1 for _, p, _, _ in self.requests if p == path)

    # -- handling -----------------------------------------------------------------------------

    def _answer(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        with self._lock:
            self.requests.append((method, path, query, body))
            for i, (only, status, answer) in enumerate(self._failures):
                if only is None or only == path:
                    del self._failures[i]
                    return status, answer
            if method == "GET" and path == "/cgi-bin/gettoken":
                corpid = query.get("corpid", [""])[0]
                secret = query.get("corpsecret", [""])[0]
                if corpid != self.corp_id:
                    return 200, {"errcode": 40013, "errmsg": "invalid corpid"}
                if secret != self.secret:
                    return 200, {"errcode": 40001, "errmsg": "invalid credential"}
                token = secrets.token_urlsafe(24)
                self.tokens[token] = True
                return 200, {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": self.expires_in}
            if method == "POST" and path == "/cgi-bin/msgaudit/groupchat/get":
                token = query.get("access_token", [""])[0]
                if token not in self.tokens:
                    return 200, {"errcode": 40014, "errmsg": "invalid access_token"}
                if not self.tokens[token]:
                    return 200, {"errcode": 42001, "errmsg": "access_token expired"}
                if not isinstance(body, dict) or not isinstance(body.get("roomid"), str):
                    return 200, {"errcode": 40058, "errmsg": "roomid missing"}
                room = self.rooms.get(body["roomid"])
                if room is None:
                    return 200, {"errcode": 301052, "errmsg": "room not found"}
                return 200, {"errcode": 0, "errmsg": "ok", **room}
            return 404, {"errcode": 404, "errmsg": "not found"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
                pass

            def _reply(self, method: str) -> None:
                parts = urlsplit(self.path)
                body: Any = None
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    raw = self.rfile.read(length)
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        body = raw
                status, answer = server._answer(method, parts.path, parse_qs(parts.query), body)
                data = answer if isinstance(answer, bytes) else json.dumps(answer, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                self._reply("GET")

            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                self._reply("POST")

        return Handler
