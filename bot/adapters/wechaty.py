"""The Wechaty edge: python ``wechaty`` 0.10.7 in, ``GroupMessage`` out; the bot's words and kicks back.

This is the only module that imports wechaty. It turns the client's quirks on Python 3.11 into
either a clear error or a retry with backoff:

================================================  =============================================
quirk of wechaty 0.10.7                           what qunzhi does
================================================  =============================================
"mutable default PuppetOptions" at import         sets ``PuppetOptions.__hash__`` before import
no endpoint: it asks api.chatie.io (outside)      refuses to start: ``WechatyConfigError``
token outside ``[A-Za-z0-9._~:@-]`` (it travels   refuses to start: ``WechatyConfigError``
in the HTTP/2 :authority header)
no server listening: it stops the event loop      waits for the port itself, retrying with backoff
wrong token: prints UNAUTHENTICATED, returns      fatal ``WechatyAuthError`` naming the endpoint
``start()`` never returns; after a drop it        never calls ``start()``: runs init, event bridge
sleeps 60 s then restarts; ``stop()`` restarts     and event stream itself; a drop or a closed
                                                  stream reconnects with backoff (1 s … 60 s) on
                                                  a fresh client
Room/Contact pools are process-wide: a fresh      clears the pools before each new client
client's rooms keep the old, dead stub
plugin server wants 127.0.0.1:5000 free           asks for port 0 (no plugin web server needed)
writes a cache under ./.wechaty                   ``CACHE_DIR`` under the bot's var/ folder
``FileBox`` warns twice per image sent that its   its logger ("FileBox") logs errors only
own ``mimeType`` property is deprecated
================================================  =============================================

No TLS: the client has none. Run the puppet service on loopback with TLS disabled, or terminate
TLS in front of it (see docs/guide/live-bot.md).

Operations (called by the outbox sender) go to the puppet directly, one call each: a send is
``message_send_text`` and nothing else, so a send that returned is delivered whether or not the
puppet gave a message id (``messageSendText(): Promise<void | string>``; ``Room.say()`` would
return None then, and load the message afterwards — a second call whose failure would make a
delivered text look failed). An image is one ``message_send_file`` with a base64 ``FileBox`` (the
whole PNG in the request: at most ``MAX_IMAGE_BYTES``, under gRPC's 4 MiB message limit once base64
grows it by a third; a larger one is refused before it leaves, and the outbox sends its text).
Each operation marks the moment its request leaves, and a failure says which side of that moment
it happened on:

- before (not logged in, connection refused): ``NotConnected`` — nothing reached the platform;
- after, with an error answer from the service: ``PlatformError`` (retried by the outbox);
- after, with no answer (``operation_timeout`` passed, the stream reset mid-call):
  ``OutcomeUnknown`` — it may have happened; the outbox never resends such a text into a group.

``on_connected`` callbacks run on every login, so the outbox goes at once after a reconnect.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import re
import socket
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

from bot.message import GroupMessage, MessageKind, NotConnected, OutcomeUnknown, PlatformError, RoomInfo

log = logging.getLogger(__name__)
T = TypeVar("T")

TOKEN_CHARS = re.compile(r"^[A-Za-z0-9._~:@-]+$")
ROOM_INFO_TTL_SECONDS = 600.0
OPERATION_TIMEOUT_SECONDS = 30.0
MAX_IMAGE_BYTES = 2_900_000  # base64 makes it ~3.9 MB: within gRPC's default 4 MiB per message
# WeChat shows a quote as 「name：quoted text」, a dashed line, then the reply.
QUOTE = re.compile(r"^「(?P<quote>.*?)」\s*\n\s*(?:-\s*){3,}\n(?P<reply>.*)$", re.S)

MessageHandler = Callable[[GroupMessage], Awaitable[None]]
RoomHandler = Callable[[RoomInfo], Awaitable[None]]


class WechatyConfigError(Exception):
    """The endpoint or token cannot work; fix the config (no retry helps)."""


class WechatyAuthError(Exception):
    """The puppet service refused the token (UNAUTHENTICATED); fatal, no retry."""


_wechaty: Any = None


def _load_wechaty(cache_dir: Path) -> Any:
    """Import wechaty once, with the Python 3.11 workaround and the cache folder set first."""
    global _wechaty
    if _wechaty is None:
        import wechaty_puppet.schemas.puppet as puppet_schemas

        puppet_schemas.PuppetOptions.__hash__ = object.__hash__
        cache_dir.mkdir(parents=True, exist_ok=True)
        # absolute: wechaty keeps this folder for the life of the process, whatever the cwd becomes
        os.environ.setdefault("CACHE_DIR", str(cache_dir.resolve()))
        import wechaty

        logging.getLogger("FileBox").setLevel(logging.ERROR)  # a deprecation warning on every send
        _wechaty = wechaty
    return _wechaty


def split_endpoint(endpoint: str) -> tuple[str, int]:
    host, sep, port = endpoint.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise WechatyConfigError(
            f"wechaty endpoint {endpoint!r} is not host:port (set [wechaty].endpoint or WECHATY_PUPPET_SERVICE_ENDPOINT)"
        )
    return host, int(port)


def check_token(token: str) -> str:
    if not token:
        raise WechatyConfigError("no wechaty token: set [wechaty].token or WECHATY_PUPPET_SERVICE_TOKEN")
    if not TOKEN_CHARS.match(token):
        raise WechatyConfigError(
            "the wechaty token may only hold letters, digits and . _ ~ : @ - "
            "(python-wechaty sends it as the HTTP/2 authority)"
        )
    return token


_KINDS = {
    "MESSAGE_TYPE_TEXT": MessageKind.TEXT,
    "MESSAGE_TYPE_URL": MessageKind.LINK,
    "MESSAGE_TYPE_MINI_PROGRAM": MessageKind.LINK,
    "MESSAGE_TYPE_IMAGE": MessageKind.IMAGE,
    "MESSAGE_TYPE_EMOTICON": MessageKind.STICKER,
    "MESSAGE_TYPE_ATTACHMENT": MessageKind.FILE,
    "MESSAGE_TYPE_AUDIO": MessageKind.VOICE,
    "MESSAGE_TYPE_VIDEO": MessageKind.VIDEO,
    "MESSAGE_TYPE_RECALLED": MessageKind.SYSTEM,
    "MESSAGE_TYPE_UNSPECIFIED": MessageKind.OTHER,
}


def message_kind(type_name: str) -> MessageKind:
    return _KINDS.get(type_name, MessageKind.OTHER)


def split_quote(text: str) -> tuple[str, str]:
    """(quote, reply) of a WeChat quote message; ("", text) for anything else."""
    m = QUOTE.match(text.strip())
    return (m["quote"].strip(), m["reply"].strip()) if m else ("", text)


def sent_at(timestamp: float | int | None) -> datetime:
    """The platform's timestamp (seconds or milliseconds since the epoch) as aware UTC; now if absent."""
    if not timestamp:
        return datetime.now(timezone.utc)
    seconds = timestamp / 1000 if timestamp > 10**11 else timestamp
    return datetime.fromtimestamp(seconds, timezone.utc)


class WechatyPlatform:
    """Lives on a Wechaty puppet service: delivers group messages, carries out the outbox."""

    source = "wechaty"  # GroupMessage.source of what it delivers

    def __init__(
        self,
        endpoint: str,
        token: str,
        *,
        cache_dir: Path | str = "var/wechaty",
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        operation_timeout: float = OPERATION_TIMEOUT_SECONDS,
    ) -> None:
        self.host, self.port = split_endpoint(endpoint)
        self.endpoint = f"{self.host}:{self.port}"
        self.token = check_token(token)
        self.cache_dir = Path(cache_dir)
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.operation_timeout = operation_timeout  # a platform operation's deadline, in seconds
        self._on_connected: list[Callable[[], None]] = []
        self._client: Any = None
        self._logged_in = False
        self._self_id = ""
        self._self_name = ""
        self._room_seen: dict[str, float] = {}
        self._wechaty = _load_wechaty(self.cache_dir)  # here, before a loop runs: the import takes ~0.5 s
        self.sessions = 0  # connections that reached login (tests and logs read it)

    # -- LivePlatform ---------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._client is not None and self._logged_in

    def on_connected(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` on every login (the first and each reconnect), once operations work."""
        self._on_connected.append(callback)

    @property
    def self_id(self) -> str:
        return self._self_id

    @property
    def self_name(self) -> str:
        return self._self_name

    async def run(self, on_message: MessageHandler, on_room: RoomHandler) -> None:
        """Connect, deliver, reconnect with backoff, forever (until cancelled or refused)."""
        wechaty = self._wechaty
        delay = self.backoff_initial
        while True:
            await self._wait_for_port()
            client = self._new_client(wechaty, on_message, on_room)
            started = asyncio.get_running_loop().time()
            try:
                await client.init_puppet()
                await client.init_puppet_event_bridge(client.puppet)
                await client.puppet.start()  # the event stream; returns or raises when it ends
                log.warning("wechaty: the puppet service at %s closed the event stream; reconnecting", self.endpoint)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - classified below: fatal or retried
                if _is_unauthenticated(e):
                    raise WechatyAuthError(
                        f"the puppet service at {self.endpoint} refused the token (UNAUTHENTICATED): "
                        "check [wechaty].token / WECHATY_PUPPET_SERVICE_TOKEN"
                    ) from None
                log.warning("wechaty: connection to %s lost (%s: %s); reconnecting", self.endpoint, type(e).__name__, e)
            finally:
                self._logged_in = False
                self._client = None
                await self._dispose(client)
            if asyncio.get_running_loop().time() - started > 30:
                delay = self.backoff_initial  # it was a healthy session: start the backoff afresh
            log.info("wechaty: reconnecting to %s in %.1f s", self.endpoint, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff_max)

    async def _wait_for_port(self) -> None:
        """Wait until something listens on the endpoint (wechaty itself would stop the event loop)."""
        delay = self.backoff_initial
        while True:
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), 5)
                writer.close()
                return
            except (OSError, TimeoutError) as e:
                log.warning(
                    "wechaty: no puppet service listening at %s (%s); retrying in %.1f s", self.endpoint, e, delay
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff_max)

    def _new_client(self, wechaty: Any, on_message: MessageHandler, on_room: RoomHandler) -> Any:
        from wechaty.user.contact import Contact
        from wechaty.user.room import Room
        from wechaty.user.tag import Tag
        from wechaty_puppet import PuppetOptions

        for cls in (Room, Contact, Tag):  # process-wide pools would keep the dead client's stub
            cls._pool.clear()
        platform = self

        class Client(wechaty.Wechaty):  # type: ignore[misc]  # wechaty ships no types
            async def on_login(self, contact: Any) -> None:
                platform._self_id = contact.contact_id
                platform._self_name = contact.name or ""
                platform._logged_in = True
                platform._client = self
                platform._room_seen.clear()
                platform.sessions += 1
                log.info(
                    "wechaty: logged in as %s (%s) at %s", platform._self_name, platform._self_id, platform.endpoint
                )
                for callback in platform._on_connected:
                    try:
                        callback()
                    except Exception:  # noqa: BLE001 - a listener's bug must not break the login
                        log.exception("wechaty: a login listener failed")

            async def on_logout(self, contact: Any) -> None:
                platform._logged_in = False
                log.warning("wechaty: %s logged out", contact.contact_id)

            async def on_message(self, msg: Any) -> None:
                try:
                    converted = await platform._convert(msg, on_room)
                except Exception:  # noqa: BLE001 - a message we cannot read is logged, not fatal
                    log.exception("wechaty: could not read message %s", getattr(msg, "message_id", "?"))
                    return
                if converted is not None:
                    await on_message(converted)

            async def on_room_join(self, room: Any, invitees: list[Any], inviter: Any, date: Any) -> None:
                names = "、".join(c.name or c.contact_id for c in invitees)
                by = (
                    f"（{inviter.name or inviter.contact_id} 邀请）"
                    if inviter is not None and inviter.contact_id
                    else ""
                )
                await platform._system(
                    room, inviter, f"{names} 加入了群聊{by}", "join", [c.contact_id for c in invitees], on_message
                )

            async def on_room_leave(self, room: Any, leavers: list[Any], remover: Any, date: Any) -> None:
                names = "、".join(c.name or c.contact_id for c in leavers)
                by = (
                    f"（被 {remover.name or remover.contact_id} 移出）"
                    if remover is not None and remover.contact_id
                    else ""
                )
                await platform._system(
                    room, remover, f"{names} 离开了群聊{by}", "leave", [c.contact_id for c in leavers], on_message
                )

            async def on_room_topic(self, room: Any, new_topic: str, old_topic: str, changer: Any, date: Any) -> None:
                platform._room_seen.pop(room.room_id, None)  # report the new name with the next message
                await platform._system(
                    room, changer, f"群名由「{old_topic}」改为「{new_topic}」", "topic", [], on_message
                )

        options = wechaty.WechatyOptions(
            puppet="wechaty-puppet-service",
            puppet_options=PuppetOptions(end_point=self.endpoint, token=self.token),
            port=0,
        )
        client = Client(options)
        self._client = client
        return client

    async def _dispose(self, client: Any) -> None:
        try:
            if client._plugin_manager.scheduler.running:
                client._plugin_manager.scheduler.shutdown(wait=False)
        except Exception:  # noqa: BLE001 - best effort
            pass
        try:
            await asyncio.wait_for(client.puppet.stop(), 3)
        except Exception:  # noqa: BLE001 - the connection is gone already
            pass

    # -- conversion at the edge -------------------------------------------------------------

    async def _convert(self, msg: Any, on_room: RoomHandler) -> GroupMessage | None:
        if msg.is_self() and not self._self_id:
            return None  # the bot's own words are stored (role 'bot', never chat) once it knows its id
        room = msg.room()
        if room is None:
            return None  # private messages are not group messages
        talker = msg.talker()
        topic = await room.topic()
        await self._maybe_report_room(room, topic, on_room)
        payload = msg.payload
        mentions = tuple(getattr(payload, "mention_ids", None) or ())
        text = msg.text() or ""
        kind = message_kind(msg.type().name)
        quote = ""
        if kind is MessageKind.TEXT:
            quote, text = split_quote(text)
            if quote:
                kind = MessageKind.QUOTE
        elif kind is MessageKind.LINK:
            text = await self._link_text(msg, text)
        return GroupMessage(
            id=msg.message_id,
            source="wechaty",
            group_id=room.room_id,
            sender_id=talker.contact_id,
            sender_name=talker.name or "",
            sent_at=sent_at(getattr(payload, "timestamp", None)),
            kind=kind,
            text=text,
            group_topic=topic or "",
            mentions=mentions,
            mentions_bot=bool(self._self_id and self._self_id in mentions),
            quote=quote,
        )

    async def _system(
        self, room: Any, actor: Any, text: str, what: str, members: list[str], on_message: MessageHandler
    ) -> None:
        """A room event (join, leave, rename) as a system message, so it is stored with the rest."""
        try:
            now = datetime.now(timezone.utc)
            actor_id = getattr(actor, "contact_id", "") or room.room_id
            event_id = f"{what}:{room.room_id}:{','.join(members)}:{int(now.timestamp() * 1000)}"
            await on_message(
                GroupMessage(
                    id=event_id,
                    source="wechaty",
                    group_id=room.room_id,
                    sender_id=actor_id,
                    sender_name=getattr(actor, "name", "") or "",
                    sent_at=now,
                    kind=MessageKind.SYSTEM,
                    text=text,
                    group_topic=getattr(room.payload, "topic", "") or "",
                    mentions=tuple(members),
                )
            )
        except Exception:  # noqa: BLE001 - an event we cannot read is logged, not fatal
            log.exception("wechaty: could not read a room %s event in %s", what, getattr(room, "room_id", "?"))

    async def _link_text(self, msg: Any, fallback: str) -> str:
        try:
            link = await msg.to_url_link()
        except Exception:  # noqa: BLE001 - a link we cannot open keeps its text
            return fallback
        parts = [
            getattr(link.payload, "title", ""),
            getattr(link.payload, "description", ""),
            getattr(link.payload, "url", ""),
        ]
        return " ".join(p for p in parts if p) or fallback

    async def _maybe_report_room(self, room: Any, topic: str, on_room: RoomHandler) -> None:
        now = asyncio.get_running_loop().time()
        if now - self._room_seen.get(room.room_id, -1e9) < ROOM_INFO_TTL_SECONDS:
            return
        self._room_seen[room.room_id] = now
        await room.ready()
        payload = room.payload
        await on_room(
            RoomInfo(
                group_id=room.room_id,
                topic=topic or "",
                owner_id=getattr(payload, "owner_id", None) or None,
                admin_ids=tuple(getattr(payload, "admin_ids", None) or ()),
            )
        )

    # -- operations (called by the outbox sender) -------------------------------------------

    async def _call(self, what: str, op: Callable[[Any, _Request], Awaitable[T]]) -> T:
        """Run one operation within the deadline and say what a failure means (see the module docstring).

        ``op`` calls ``request.leaves()`` right before the one call that changes something on the
        platform; what comes before it only reads.
        """
        client = self._client
        if client is None or not self._logged_in:
            raise NotConnected(f"{what}: not connected to {self.endpoint}")
        request = _Request()
        try:
            async with asyncio.timeout(self.operation_timeout):  # (3.11's wait_for can lose a cancel)
                return await op(client, request)
        except PlatformError:
            raise
        except Exception as e:  # noqa: BLE001 - classified: not sent, refused, or unknown
            raise self._failure(what, e, left=request.left) from None

    def _failure(self, what: str, error: Exception, *, left: bool) -> PlatformError:
        named = f"{type(error).__name__}: {error}"
        if isinstance(error, TimeoutError):  # before OSError: TimeoutError is one
            waited = f"no answer from {self.endpoint} in {self.operation_timeout:g} s"
            if left:
                return OutcomeUnknown(f"{what}: sent, but {waited}")
            return PlatformError(f"{what}: {waited} (nothing sent)")
        if isinstance(error, (ConnectionRefusedError, socket.gaierror)):
            return NotConnected(f"{what}: {named}")  # no connection, so the request never left
        if left:
            if _answered(error):
                return PlatformError(f"{what}: {named}")
            return OutcomeUnknown(f"{what}: sent, then {named}")
        if isinstance(error, (ConnectionError, OSError)) or not self.connected:
            return NotConnected(f"{what}: connection lost ({named})")
        return PlatformError(f"{what}: {named}")

    async def send_text(self, group_id: str, text: str, mentions: tuple[str, ...] = ()) -> None:
        async def op(client: Any, request: _Request) -> None:
            said = text
            if mentions:  # what Room.say() puts in front: "@name" for each, U+2005 between them
                from wechaty.config import AT_SEPARATOR

                names = []
                for contact_id in mentions:
                    contact = client.Contact.load(contact_id)
                    await contact.ready()
                    names.append("@" + (contact.name or contact_id))
                said = AT_SEPARATOR.join(names) + " " + text
            request.leaves()
            sent = await client.puppet.message_send_text(
                conversation_id=group_id, message=said, mention_ids=list(mentions) or None
            )
            log.debug("wechaty: said in %s (message id %s)", group_id, sent or "none given")

        await self._call(f"say in {group_id}", op)

    async def send_private(self, contact_id: str, text: str) -> None:
        async def op(client: Any, request: _Request) -> None:
            request.leaves()
            sent = await client.puppet.message_send_text(conversation_id=contact_id, message=text)
            log.debug("wechaty: told %s (message id %s)", contact_id, sent or "none given")

        await self._call(f"tell {contact_id}", op)

    async def send_image(self, target: str, png: bytes, name: str) -> None:
        if len(png) > MAX_IMAGE_BYTES:
            raise PlatformError(
                f"image for {target}: {len(png)} bytes, more than the {MAX_IMAGE_BYTES} one request carries",
                retry=False,
            )

        async def op(client: Any, request: _Request) -> None:
            from wechaty_puppet import FileBox

            box = FileBox.from_base64(base64.b64encode(png), name=name)
            request.leaves()
            sent = await client.puppet.message_send_file(conversation_id=target, file=box)
            log.debug("wechaty: sent image %s to %s (message id %s)", name, target, sent or "none given")

        await self._call(f"send image to {target}", op)

    async def kick(self, group_id: str, member_id: str) -> None:
        async def op(client: Any, request: _Request) -> None:
            request.leaves()
            try:
                await client.puppet.room_delete(group_id, member_id)
            except Exception as e:  # noqa: BLE001 - "is not a member" means the job is done
                if "not a member" in str(e):
                    log.info("wechaty: %s had already left %s", member_id, group_id)
                    return
                raise

        await self._call(f"remove {member_id} from {group_id}", op)

    async def add_member(self, group_id: str, member_id: str) -> None:
        async def op(client: Any, request: _Request) -> None:
            request.leaves()
            await client.puppet.room_add(group_id, member_id)

        await self._call(f"add {member_id} to {group_id}", op)


class _Request:
    """Marks the moment an operation's request leaves: a failure after it leaves the outcome open."""

    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = False

    def leaves(self) -> None:
        self.left = True


def _answered(error: Exception) -> bool:
    """The service answered the call with an error status (so it did not time out on its side)."""
    from grpclib.const import Status
    from grpclib.exceptions import GRPCError

    return isinstance(error, GRPCError) and error.status is not Status.DEADLINE_EXCEEDED


def _is_unauthenticated(error: BaseException) -> bool:
    status = getattr(error, "status", None)
    return getattr(status, "name", "") == "UNAUTHENTICATED" or "UNAUTHENTICATED" in str(error)
