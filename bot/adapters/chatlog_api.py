"""Pull new group messages from a chatlog-compatible HTTP API (sjzar/chatlog ``chatlog server``).

The API has no cursor, so (as the note on chat sources says) each pull asks, per talker, for
``GET /api/v1/chatlog?time=<lastSec>~<end>&talker=<id>&format=json`` and drops every record with
``seq <= lastSeq``: messages of the same second as the last one pulled come back and only the new
ones pass. The cursor is ``{talker: {"sec": <unix second of the last seq>, "seq": <last seq>}}``.

* Talkers: the configured ``talkers``, else every chat room the API lists
  (``GET /api/v1/chatroom?format=json``, paged with ``limit``/``offset``). The room list also gives
  each room's name and owner (:attr:`PullResult.rooms`) and its members' display names, which
  ``@name`` mentions resolve against (:class:`~bot.adapters.chatlog.MessageBuilder`).
* First pull of a talker (no cursor for it): the last :data:`FIRST_PULL` (one day), by default.
* ``<end>`` is now plus :data:`END_SLACK` (one hour), so a server clock a little ahead loses nothing;
  the time points are unix seconds (a form chatlog accepts), the range is inclusive.
* No ``limit``: chatlog's ``limit > 0`` stops early per talker/DB file, so one talker is fetched whole.
* Query values are percent-encoded, ``+`` included.
* Errors raise :class:`SourceError`: connection errors, timeouts and 5xx with ``retry=True``; 4xx
  (the server's bare JSON string quoted) and answers that are not the documented JSON with
  ``retry=False``. A bad record is a :class:`RowError` (``path`` = the request, ``line`` = its
  1-based place in the answer) and does not stop the pull; its seq still advances the cursor.
* Records of another talker (a remark/nickname talker matching more than one chat) and private
  chats are skipped.

Limits: a message that reaches the server's database later than a newer one already pulled (a
phone syncing history late) has a seq at or below the cursor and is not picked up; import an
export for that.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from bot.adapters.chatlog import CHATROOM_SUFFIX, MessageBuilder, RecordProblem, map_records, parse_seq, parse_time
from bot.adapters.source import PullResult, SourceError
from bot.config import ChatlogSource
from bot.message import RoomInfo

__all__ = ["END_SLACK", "FIRST_PULL", "ChatlogPull"]

log = logging.getLogger(__name__)

FIRST_PULL = timedelta(days=1)
END_SLACK = timedelta(hours=1)
ROOM_PAGE = 500


class ChatlogPull:
    """A :class:`~bot.adapters.source.PullSource` over a chatlog HTTP API."""

    def __init__(
        self,
        config: ChatlogSource,
        *,
        first_pull: timedelta = FIRST_PULL,
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.config = config
        self.first_pull = first_pull
        self._clock = clock
        self._transport = transport
        self._builder = MessageBuilder(config.self_id or None)
        self.skipped = 0  # records of the last pull skipped (private chats, other talkers)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def every(self) -> timedelta:
        return timedelta(minutes=self.config.every_minutes)

    def pull(self, cursor: Mapping[str, Any]) -> PullResult:
        result = PullResult(cursor={k: dict(v) for k, v in cursor.items() if isinstance(v, Mapping)})
        self.skipped = 0
        now = self._clock()
        with httpx.Client(
            base_url=self.config.url.rstrip("/"), timeout=self.config.timeout_seconds, transport=self._transport
        ) as client:
            rooms = self._rooms(client)
            talkers = list(self.config.talkers) or [r for r in rooms if r.endswith(CHATROOM_SUFFIX)]
            for talker in talkers:
                if talker in rooms:
                    result.rooms.append(rooms[talker])
                self._pull_talker(client, talker, now, result)
        if self.skipped:
            log.info("chatlog source %s: skipped %d records (not the group chats pulled)", self.name, self.skipped)
        return result

    # -- requests ---------------------------------------------------------------------------

    def _get(self, client: httpx.Client, path: str, params: dict[str, str]) -> tuple[str, Any]:
        target = f"{path}?{urlencode(params, quote_via=quote, safe='')}"
        where = f"{self.config.url.rstrip('/')}{target}"
        try:
            response = client.get(target)
        except httpx.TimeoutException as e:
            raise SourceError(f"chatlog {where}: timed out ({type(e).__name__})", retry=True) from e
        except httpx.HTTPError as e:
            raise SourceError(f"chatlog {where}: cannot connect: {e}", retry=True) from e
        if response.status_code >= 400:
            try:
                detail = response.json()
            except ValueError:
                detail = response.text[:200]
            retry = response.status_code >= 500 or response.status_code == 429
            raise SourceError(f"chatlog {where}: HTTP {response.status_code}: {detail}", retry=retry)
        try:
            return where, response.json()
        except ValueError:
            raise SourceError(f"chatlog {where}: answer is not JSON (is this a chatlog API?)", retry=False) from None

    def _rooms(self, client: httpx.Client) -> dict[str, RoomInfo]:
        rooms: dict[str, RoomInfo] = {}
        offset = 0
        while True:
            params = {"format": "json", "limit": str(ROOM_PAGE), "offset": str(offset)}
            where, body = self._get(client, "/api/v1/chatroom", params)
            items = body.get("items") if isinstance(body, dict) else None
            if not isinstance(items, list):
                raise SourceError(f'chatlog {where}: expected {{"items": [...]}}', retry=False)
            new = 0
            for item in items:
                if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"].strip():
                    continue
                room_id = item["name"].strip()
                if room_id in rooms:
                    continue
                new += 1
                topic = next((v for k in ("remark", "nickName") if isinstance(v := item.get(k), str) and v), "")
                owner = item.get("owner")
                rooms[room_id] = RoomInfo(room_id, topic.strip(), owner if isinstance(owner, str) and owner else None)
                for user in item.get("users") or ():
                    if isinstance(user, dict):
                        uid, display = user.get("userName"), user.get("displayName")
                        if isinstance(uid, str) and isinstance(display, str):
                            self._builder.know(room_id, uid, display)
            if len(items) < ROOM_PAGE or new == 0:
                return rooms
            offset += len(items)

    def _pull_talker(self, client: httpx.Client, talker: str, now: float, result: PullResult) -> None:
        last = result.cursor.get(talker) or {}
        last_seq = last.get("seq") if isinstance(last.get("seq"), int) else None
        last_sec = last.get("sec") if isinstance(last.get("sec"), int) else None
        start = (
            last_sec if last_seq is not None and last_sec is not None else int(now - self.first_pull.total_seconds())
        )
        end = int(now + END_SLACK.total_seconds())
        params = {"time": f"{start}~{end}", "talker": talker, "format": "json"}
        where, records = self._get(client, "/api/v1/chatlog", params)
        if records is None:
            records = []  # Go's encoding of an empty slice may be null
        if not isinstance(records, list):
            raise SourceError(f"chatlog {where}: expected a JSON array of messages", retry=False)

        fresh: list[Any] = []
        positions: list[int] = []
        top_seq, top_sec = last_seq, last_sec
        for index, record in enumerate(records, start=1):
            seq = _record_seq(record)
            if seq is not None and last_seq is not None and seq <= last_seq:
                continue  # pulled before (same second as the last pull, or the range overlap)
            if isinstance(record, Mapping) and record.get("talker") != talker:
                self.skipped += 1
                continue
            fresh.append(record)
            positions.append(index)
            if seq is not None and (top_seq is None or seq > top_seq):
                sent = _record_time(record)
                if sent is not None:
                    top_seq, top_sec = seq, int(sent.timestamp())
        mapped = map_records(fresh, self._builder, where=where, lines=positions)
        self.skipped += mapped.skipped
        result.messages.extend(mapped.messages)
        result.errors.extend(mapped.errors)
        if top_seq is not None and top_sec is not None and top_seq != last_seq:
            result.cursor[talker] = {"sec": top_sec, "seq": top_seq}


def _record_seq(record: Any) -> int | None:
    if not isinstance(record, Mapping):
        return None
    try:
        return parse_seq(record.get("seq"), "seq")
    except RecordProblem:
        return None


def _record_time(record: Mapping[str, Any]) -> datetime | None:
    try:
        return parse_time(record.get("time"), "time")
    except RecordProblem:
        return None
