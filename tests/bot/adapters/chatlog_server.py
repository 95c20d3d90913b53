"""A local chatlog-compatible HTTP server for tests (127.0.0.1, a random port, a thread).

It follows the request/response shapes of sjzar/chatlog's HTTP API as the note on chat sources
documents them:

* ``GET /api/v1/chatlog?time=&talker=&sender=&keyword=&limit=&offset=&format=json`` — ``time`` and
  ``talker`` required; ``talker`` a comma list of ids or talker names; ``time`` one of the documented
  forms (``2025-01-01``, ``20250101``, ``2025-01-01/15:04``, RFC 3339, unix seconds, ``2025-01``,
  ``today``, ``3d-ago``, ``last-7d``, ``all``) or a range ``A~B`` / ``A,B`` (inclusive), dates in the
  server's zone, a lone point widened to its day; the answer is a JSON array of messages ascending by
  ``seq`` (``limit`` 0 = all). Messages of the same second as an earlier answer come back again, as a
  real server's do.
* ``GET /api/v1/chatroom?keyword=&limit=&offset=&format=json`` → ``{"items": [...]}``.
* Errors: a bare JSON string with a 4xx status. Only ``format=json`` is served here.

Messages live in memory (:meth:`ChatlogServer.add`); ``seq`` is seconds×1000 + a per-second counter,
``time`` RFC 3339 with the server's offset. :meth:`fail_next` makes the next request answer an error;
:meth:`stop` takes the server down.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta, tzinfo
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


class BadRequest(Exception):
    pass


class ChatlogServer:
    def __init__(self, tz: tzinfo = SHANGHAI) -> None:
        self.tz = tz
        self.messages: list[dict[str, Any]] = []
        self.rooms: list[dict[str, Any]] = []
        self.requests: list[str] = []  # raw request targets, for the tests to look at
        self._failures: list[tuple[int, Any]] = []
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

    # -- data -------------------------------------------------------------------------------

    def add_room(self, name: str, nick_name: str, owner: str = "", users: Sequence[tuple[str, str]] = ()) -> None:
        self.rooms.append(
            {
                "name": name,
                "owner": owner,
                "users": [{"userName": u, "displayName": d} for u, d in users],
                "remark": "",
                "nickName": nick_name,
            }
        )

    def add(
        self,
        at: datetime,
        talker: str,
        sender: str,
        sender_name: str,
        content: str,
        *,
        type: int = 1,
        sub_type: int = 0,
        contents: dict[str, Any] | None = None,
        is_self: bool = False,
    ) -> dict[str, Any]:
        """Store a message sent at ``at`` (aware); returns it as the API shows it."""
        local = at.astimezone(self.tz).replace(microsecond=0)
        second = int(local.timestamp())
        with self._lock:
            same = [m for m in self.messages if m["seq"] // 1000 == second]
            room = next((r for r in self.rooms if r["name"] == talker), None)
            message: dict[str, Any] = {
                "seq": second * 1000 + len(same),
                "time": local.isoformat(),
                "talker": talker,
                "talkerName": room["nickName"] if room else "",
                "isChatRoom": talker.endswith("@chatroom"),
                "sender": sender,
                "senderName": sender_name,
                "isSelf": is_self,
                "type": type,
                "subType": sub_type,
                "content": content,
            }
            if contents:
                message["contents"] = contents
            self.messages.append(message)
            self.messages.sort(key=lambda m: m["seq"])
        return message

    def fail_next(self, status: int, body: Any) -> None:
        self._failures.append((status, body))

    # -- HTTP -------------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server.requests.append(self.path)
                if server._failures:
                    status, body = server._failures.pop(0)
                    return self._send(status, body)
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
                try:
                    if parts.path == "/api/v1/chatlog":
                        return self._send(200, server._chatlog(query))
                    if parts.path == "/api/v1/chatroom":
                        return self._send(200, {"items": server._page(server._chatrooms(query), query)})
                except BadRequest as e:
                    return self._send(400, str(e))
                self._send(404, "not found")

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def _chatlog(self, query: dict[str, str]) -> list[dict[str, Any]]:
        if not query.get("time") or not query.get("talker"):
            raise BadRequest("time and talker are required")
        if query.get("format", "json") != "json":
            raise BadRequest("only format=json is served by this test server")
        start, end = self._range(query["time"])
        talkers = {t.strip() for t in query["talker"].split(",") if t.strip()}
        sender = query.get("sender", "")
        keyword = re.compile(query["keyword"]) if query.get("keyword") else None
        with self._lock:
            found = [
                m
                for m in self.messages
                if (m["talker"] in talkers or m["talkerName"] in talkers)
                and start <= datetime.fromisoformat(m["time"]) <= end
                and (not sender or sender in (m["sender"], m["senderName"]))
                and (keyword is None or keyword.search(m["content"]))
            ]
        return self._page(found, query)

    def _chatrooms(self, query: dict[str, str]) -> list[dict[str, Any]]:
        keyword = query.get("keyword", "")
        return [r for r in self.rooms if not keyword or any(keyword in r[k] for k in ("name", "remark", "nickName"))]

    @staticmethod
    def _page(items: list[Any], query: dict[str, str]) -> list[Any]:
        try:
            limit, offset = int(query.get("limit") or 0), int(query.get("offset") or 0)
        except ValueError:
            raise BadRequest("limit and offset must be integers") from None
        items = items[offset:]
        return items[:limit] if limit > 0 else items

    def _range(self, value: str) -> tuple[datetime, datetime]:
        for sep in ("~", ","):
            if sep in value:
                a, b = value.split(sep, 1)
                return self._point(a)[0], self._point(b)[1]
        return self._point(value, widen=True)

    def _point(self, value: str, *, widen: bool = False) -> tuple[datetime, datetime]:
        """(earliest, latest) instant ``value`` names; a lone second/minute point widens to its day."""
        value = value.strip()
        now = datetime.now(self.tz)

        def day(d: date, last: date | None = None) -> tuple[datetime, datetime]:
            first = datetime.combine(d, time.min, self.tz)
            return first, datetime.combine(last or d, time.max, self.tz)

        if value == "all":
            return datetime(1970, 1, 1, tzinfo=self.tz), datetime(9999, 1, 1, tzinfo=self.tz)
        if value == "today":
            return day(now.date())
        if m := re.fullmatch(r"(\d+)d-ago", value):
            return day(now.date() - timedelta(days=int(m[1])))
        if m := re.fullmatch(r"last-(\d+)d", value):
            return day(now.date() - timedelta(days=int(m[1])), now.date())
        if re.fullmatch(r"\d{9,11}", value):
            exact = datetime.fromtimestamp(int(value), self.tz)
            return day(exact.date()) if widen else (exact, exact)
        for fmt in ("%Y-%m-%d", "%Y%m%d"):
            try:
                return day(datetime.strptime(value, fmt).date())
            except ValueError:
                pass
        if re.fullmatch(r"\d{4}-\d{2}", value):
            first = datetime.strptime(value, "%Y-%m").date()
            following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
            return day(first, following - timedelta(days=1))
        try:
            exact = datetime.strptime(value, "%Y-%m-%d/%H:%M").replace(tzinfo=self.tz)
            return day(exact.date()) if widen else (exact, exact + timedelta(seconds=59))
        except ValueError:
            pass
        try:
            exact = datetime.fromisoformat(value)
        except ValueError:
            raise BadRequest(f"invalid time: {value}") from None
        if exact.tzinfo is None:
            exact = exact.replace(tzinfo=self.tz)
        return day(exact.astimezone(self.tz).date()) if widen else (exact, exact)
