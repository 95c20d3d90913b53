"""The WeCom chat archive (企业微信 会话内容存档, ``[[sources]] kind = "wecom"``) as a
:class:`~bot.adapters.source.PullSource`.

**Pull.** Through a :class:`FinanceClient` (the real one, :class:`SdkFinanceClient`, loads Tencent's
``libWeWorkFinanceSdk_C.so`` from the ``pyweworkfinance`` package: ``pip install 'qunzhi[wecom]'``):
``GetChatData(seq, limit=batch)`` returns ``{"errcode":0,"chatdata":[{seq, msgid, publickey_ver,
encrypt_random_key, encrypt_chat_msg}]}``, the records after ``seq``. Batches are pulled until one
comes back short (at most :data:`MAX_BATCHES_PER_PULL` per pull). Cursor: ``{"seq": the largest seq
passed, "keys": [the key versions proven]}``; the runner stores it after the messages, so a restart
neither loses nor repeats.

**Decrypt**, per record: base64 ``encrypt_random_key`` → RSA PKCS#1 v1.5 with the private key of its
``publickey_ver`` (``private_keys`` in the config: version → PEM file) → ``DecryptData(key,
encrypt_chat_msg)`` → bytes; control bytes below 0x20 other than tab, LF and CR are deleted (the
archive's JSON carries raw ones), then JSON. A record whose key version has no configured key, or
that fails to decrypt with a key that has never decrypted a record (the versions that have are kept
in the cursor, ``"keys"``), is a key problem, not a bad record: the pull stops before it (cursor =
the seq before it, a :class:`RowError` names it) so that fixing ``private_keys`` recovers it while
the server still keeps it. (RSA PKCS#1 v1.5 cannot tell a wrong key by itself: OpenSSL 3.2+
answers one with random bytes, so the ``DecryptData`` failure is the sign.) Any other failure
(base64, ``DecryptData`` with a proven key, JSON, a field) is a :class:`RowError` naming the seq
and msgid, and the pull goes on past it.

**Mapping** of a decrypted message to :class:`GroupMessage`:

* ``id`` = ``msgid``; ``source`` = ``"wecom"``; ``group_id`` = ``"wecom:" + roomid`` (the prefix keeps
  WeCom room ids apart from WeChat chatroom ids in one store); ``sender_id`` = ``from`` (staff userid,
  customer external_userid ``wm…``, robot ``wb…``); ``sender_name`` = the same id (the archive carries
  no names); ``sent_at`` = ``msgtime`` (epoch ms, UTC); ``group_topic`` = the room's name from the
  group-info API ("" if it could not be fetched); no mentions, replies or quotes (the archive has no
  such structure).
* Skipped, silently: ``roomid`` "" (1:1 chats), ``action`` ``switch`` records (no ``msgtype``).
* ``msgtype`` → kind, text: ``text`` TEXT ``content`` (blank = bad record); ``image`` IMAGE ``[图片]``;
  ``voice`` VOICE ``[语音]``; ``video`` VIDEO ``[视频]``; ``emotion`` STICKER ``[表情]``; ``file`` FILE
  ``[文件] filename``; ``link`` LINK ``"title link_url"``; ``location`` OTHER ``[位置] title or address``;
  ``card`` OTHER ``[名片]``; ``chatrecord`` OTHER ``[聊天记录] title``; ``mixed`` TEXT, its items joined
  with a space (text items' ``content``, the others' placeholders); ``weapp`` OTHER ``[小程序] title``;
  ``redpacket`` OTHER ``[红包] wish``; ``revoke`` SYSTEM ``"<from> 撤回了一条消息"`` from ``@system``
  (the revoked message itself stays stored); ``agree``/``disagree`` SYSTEM ``"<userid> 同意存档会话内容"``
  / ``"… 不同意存档会话内容"`` from ``@system``; anything else OTHER ``[其他消息]``. Media are never
  downloaded; raw JSON never reaches the text.

**Rooms.** For each room seen, once a day: ``GET {api_base}/cgi-bin/gettoken?corpid=&corpsecret=``
(the chat archive's Secret; the token is cached until ``expires_in``, refreshed on errcode
40014/42001) and ``POST {api_base}/cgi-bin/msgaudit/groupchat/get?access_token=`` ``{"roomid"}`` →
``roomname``, ``creator`` (→ :class:`RoomInfo` in ``PullResult.rooms``); ``members[].memberid``
parsed as int or str (read, not used yet). A failure there is logged and the messages go on.

**Secrets.** The Secret comes from the environment variable ``secret_env``, the private keys from
their files; neither is ever logged or put in an error message (a log filter redacts ``corpsecret``
and ``access_token`` from httpx's request log lines).

**Errors.** ``GetChatData`` failing with 10001–10003 (network, parse, system) is
:class:`SourceError` ``retry=True``; any other code ``retry=False``; both name the code.
"""

from __future__ import annotations

import base64
import binascii
import ctypes
import importlib.util
import json
import logging
import os
import platform
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from bot.adapters.errors import RowError
from bot.adapters.memotrace import SYSTEM_SENDER_ID, SYSTEM_SENDER_NAME
from bot.adapters.source import PullResult, SourceError
from bot.config import WeComSource
from bot.message import GroupMessage, MessageError, MessageKind, RoomInfo

if TYPE_CHECKING:
    import httpx
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

__all__ = [
    "SOURCE",
    "FinanceClient",
    "FinanceError",
    "SdkFinanceClient",
    "WeComArchive",
    "build_wecom_source",
    "map_message",
]

log = logging.getLogger(__name__)

SOURCE = "wecom"
GROUP_PREFIX = "wecom:"
MAX_BATCHES_PER_PULL = 20
ROOM_REFRESH_SECONDS = 24 * 3600
RETRYABLE_CODES = frozenset({10001, 10002, 10003})
TOKEN_INVALID_CODES = frozenset({40014, 42001})
INSTALL_HINT = "pip install 'qunzhi[wecom]'"

# Documented SDK return codes (WeWorkFinanceSdk_C.h).
SDK_ERRORS = {
    10000: "bad parameters",
    10001: "network error",
    10002: "data parse failure",
    10003: "system failure",
    10004: "key error, encryption failed",
    10005: "bad fileid",
    10006: "decryption failed",
    10007: "no private key for the message's key version",
    10008: "cannot parse encrypt_key",
    10009: "IP not allowed",
    10010: "data expired",
    10011: "certificate error",
}

_CONTROL = bytes(b for b in range(0x20) if b not in (0x09, 0x0A, 0x0D))

_PLACEHOLDERS: dict[str, tuple[MessageKind, str]] = {
    "image": (MessageKind.IMAGE, "[图片]"),
    "voice": (MessageKind.VOICE, "[语音]"),
    "video": (MessageKind.VIDEO, "[视频]"),
    "emotion": (MessageKind.STICKER, "[表情]"),
    "card": (MessageKind.OTHER, "[名片]"),
}
_OTHER_PLACEHOLDER = "[其他消息]"


class FinanceError(Exception):
    """The Finance SDK returned a non-zero code (``code``)."""

    def __init__(self, code: int, operation: str) -> None:
        self.code = code
        self.operation = operation
        super().__init__(f"{operation} failed: error {code} ({SDK_ERRORS.get(code, 'unknown')})")


class FinanceClient(Protocol):
    """The two Finance SDK calls the archive needs (the real one: :class:`SdkFinanceClient`)."""

    def get_chat_data(self, seq: int, limit: int, timeout: int) -> bytes | str | Mapping[str, Any]:
        """``GetChatData``: the records after ``seq``, as the SDK's JSON. Raises :class:`FinanceError`."""
        ...

    def decrypt_data(self, key: bytes, encrypt_msg: str) -> bytes:
        """``DecryptData``: ``encrypt_chat_msg`` decrypted with the RSA-decrypted random key."""
        ...


# --- the real SDK -------------------------------------------------------------------------------


class _Slice(ctypes.Structure):
    _fields_ = [("buf", ctypes.c_char_p), ("len", ctypes.c_int)]


def _bundled_library() -> Path:
    """The ``libWeWorkFinanceSdk_C`` that the ``pyweworkfinance`` package ships for this machine.
    The package is located, never imported (its own wrapper logs to stdout)."""
    spec = importlib.util.find_spec("pyweworkfinance")
    if spec is None or not spec.submodule_search_locations:
        raise SourceError(f"the WeCom chat archive needs Tencent's Finance SDK: {INSTALL_HINT}", retry=False)
    base = Path(next(iter(spec.submodule_search_locations))) / "libs"
    system, machine = platform.system(), platform.machine().lower()
    if system == "Linux" and machine in ("x86_64", "amd64"):
        path = base / "linux" / "libWeWorkFinanceSdk_C_x86.so"
    elif system == "Linux" and machine in ("aarch64", "arm64"):
        path = base / "linux" / "libWeWorkFinanceSdk_C_arm.so"
    elif system == "Windows" and machine in ("x86_64", "amd64"):
        path = base / "windows" / "WeWorkFinanceSdk.dll"
    else:
        raise SourceError(
            f"Tencent's Finance SDK has no build for {system} {machine} (Linux/Windows only)", retry=False
        )
    if not path.is_file():
        raise SourceError(f"Finance SDK library missing: {path} (reinstall: {INSTALL_HINT})", retry=False)
    return path


class SdkFinanceClient:
    """Tencent's Finance SDK through ctypes (our own binding of the ``.so`` that ``pyweworkfinance``
    bundles: its wrapper logs the Secret and keys at DEBUG and parses records strictly)."""

    # The SDK aborts the whole process (an uncaught std::out_of_range) on a too-short encrypt_msg.
    MIN_ENCRYPT_MSG = 16

    def __init__(self, corp_id: str, secret: str, *, proxy: str = "", library: Path | None = None) -> None:
        self._sdk: int | None = None
        lib = ctypes.CDLL(str(library or _bundled_library()))
        lib.NewSdk.restype = ctypes.c_void_p
        lib.Init.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]
        lib.Init.restype = ctypes.c_int
        lib.GetChatData.argtypes = [
            ctypes.c_void_p,
            ctypes.c_ulonglong,
            ctypes.c_uint,
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_int,
            ctypes.POINTER(_Slice),
        ]
        lib.GetChatData.restype = ctypes.c_int
        lib.DecryptData.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(_Slice)]
        lib.DecryptData.restype = ctypes.c_int
        lib.DestroySdk.argtypes = [ctypes.c_void_p]
        lib.DestroySdk.restype = None
        lib.NewSlice.restype = ctypes.POINTER(_Slice)
        lib.FreeSlice.argtypes = [ctypes.POINTER(_Slice)]
        lib.FreeSlice.restype = None
        lib.GetContentFromSlice.argtypes = [ctypes.POINTER(_Slice)]
        lib.GetContentFromSlice.restype = ctypes.c_void_p
        lib.GetSliceLen.argtypes = [ctypes.POINTER(_Slice)]
        lib.GetSliceLen.restype = ctypes.c_int
        self._lib = lib
        self._proxy = proxy.encode()
        self._sdk = lib.NewSdk()
        code = lib.Init(self._sdk, corp_id.encode(), secret.encode())
        if code != 0:
            self.close()
            raise FinanceError(code, "Init")

    def _slice_call(self, operation: str, call: Callable[[Any], int]) -> bytes:
        out = self._lib.NewSlice()
        try:
            code = call(out)
            if code != 0:
                raise FinanceError(code, operation)
            return ctypes.string_at(self._lib.GetContentFromSlice(out), self._lib.GetSliceLen(out))
        finally:
            self._lib.FreeSlice(out)

    def get_chat_data(self, seq: int, limit: int, timeout: int) -> bytes:
        return self._slice_call(
            "GetChatData", lambda out: self._lib.GetChatData(self._sdk, seq, limit, self._proxy, b"", timeout, out)
        )

    def decrypt_data(self, key: bytes, encrypt_msg: str) -> bytes:
        if len(encrypt_msg) < self.MIN_ENCRYPT_MSG or b"\0" in key:
            raise FinanceError(10000, "DecryptData")
        return self._slice_call("DecryptData", lambda out: self._lib.DecryptData(key, encrypt_msg.encode(), out))

    def close(self) -> None:
        if self._sdk is not None:
            self._lib.DestroySdk(self._sdk)
            self._sdk = None

    def __del__(self) -> None:
        self.close()


# --- secrets ------------------------------------------------------------------------------------


def _load_private_keys(paths: Mapping[str, str]) -> dict[str, RSAPrivateKey]:
    """The RSA private keys by ``publickey_ver``. Errors name the version and the file, never content."""
    try:
        from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
        from cryptography.hazmat.primitives.serialization import load_pem_private_key
    except ImportError:
        raise SourceError(
            f"the WeCom chat archive needs the 'cryptography' package: {INSTALL_HINT}", retry=False
        ) from None
    keys: dict[str, RSAPrivateKey] = {}
    for version, name in paths.items():
        path = Path(name).expanduser()
        where = f"private_keys[{version!r}] ({path})"
        try:
            data = path.read_bytes()
        except OSError as e:
            raise SourceError(f"{where}: cannot read: {e.strerror or type(e).__name__}", retry=False) from None
        try:
            key = load_pem_private_key(data, password=None)
        except (ValueError, TypeError):  # the library's message is not repeated: it could quote the file
            key = None
        del data
        if not isinstance(key, RSAPrivateKey):
            raise SourceError(f"{where}: not an unencrypted PEM RSA private key", retry=False)
        keys[str(version).strip()] = key
    return keys


class _RedactSecrets(logging.Filter):
    """Blanks ``corpsecret=`` and ``access_token=`` values in log records (httpx logs request URLs)."""

    _PATTERN = re.compile(r"((?:corpsecret|access_token)=)[^&\s\"']*")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self._PATTERN.sub(r"\1***", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_REDACT = _RedactSecrets()


def _install_redaction() -> None:
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        if _REDACT not in logger.filters:
            logger.addFilter(_REDACT)


# --- the group-info API -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Room:
    info: RoomInfo
    members: tuple[str, ...]
    fetched: float


class _GroupApi:
    """``gettoken`` and ``msgaudit/groupchat/get`` over httpx."""

    def __init__(
        self, client: httpx.Client, api_base: str, corp_id: str, secret: str, clock: Callable[[], float]
    ) -> None:
        self._http = client
        self._clock = clock
        self._base = api_base.rstrip("/")
        self._corp_id = corp_id
        self._secret = secret
        self._token: str | None = None
        self._token_expires = 0.0

    def _get_json(self, response: httpx.Response, what: str) -> dict[str, Any]:
        if response.status_code != 200:
            raise SourceError(f"{what}: HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise SourceError(f"{what}: the answer is not JSON") from None
        if not isinstance(body, dict):
            raise SourceError(f"{what}: the answer is not a JSON object")
        return body

    def token(self) -> str:
        if self._token is not None and self._clock() < self._token_expires:
            return self._token
        response = self._http.get(
            f"{self._base}/cgi-bin/gettoken", params={"corpid": self._corp_id, "corpsecret": self._secret}
        )
        body = self._get_json(response, "gettoken")
        code = _int(body.get("errcode", 0))
        token = body.get("access_token")
        if code != 0 or not isinstance(token, str) or not token:
            raise SourceError(f"gettoken: errcode {code} {str(body.get('errmsg', ''))[:200]}".rstrip(), retry=False)
        expires = _int(body.get("expires_in", 7200)) or 7200
        self._token, self._token_expires = token, self._clock() + max(expires - 60, 1)
        return token

    def group(self, roomid: str) -> tuple[RoomInfo, tuple[str, ...]]:
        for attempt in (1, 2):
            response = self._http.post(
                f"{self._base}/cgi-bin/msgaudit/groupchat/get",
                params={"access_token": self.token()},
                json={"roomid": roomid},
            )
            body = self._get_json(response, "groupchat/get")
            code = _int(body.get("errcode", 0))
            if code in TOKEN_INVALID_CODES and attempt == 1:
                self._token = None
                continue
            if code != 0:
                raise SourceError(f"groupchat/get: errcode {code} {str(body.get('errmsg', ''))[:200]}".rstrip())
            members: list[str] = []
            for member in body.get("members") or ():
                if isinstance(member, Mapping):
                    member_id = member.get("memberid")
                    if isinstance(member_id, (int, str)) and not isinstance(member_id, bool) and str(member_id).strip():
                        members.append(str(member_id).strip())
            creator = body.get("creator")
            info = RoomInfo(
                group_id=GROUP_PREFIX + roomid,
                topic=str(body.get("roomname") or ""),
                owner_id=str(creator) if isinstance(creator, (int, str)) and str(creator) else None,
            )
            return info, tuple(members)
        raise AssertionError("unreachable")  # pragma: no cover


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


# --- mapping ------------------------------------------------------------------------------------


class _BadRecord(Exception):
    """Internal: this record is skipped; the message names the field."""


def _obj(message: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = message.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _BadRecord(f"{name}: not an object")
    return value


def _s(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _joined(*parts: str) -> str:
    return " ".join(p for p in parts if p)


def _item_content(item: Mapping[str, Any]) -> Mapping[str, Any]:
    """A ``mixed``/``chatrecord`` item's ``content``: a JSON string (sometimes already an object)."""
    content = item.get("content")
    if isinstance(content, str):
        try:
            content = json.loads(content, strict=False)
        except ValueError:
            return {"content": content}
    return content if isinstance(content, Mapping) else {}


def _mixed_text(mixed: Mapping[str, Any]) -> str:
    parts: list[str] = []
    for item in mixed.get("item") or ():
        if not isinstance(item, Mapping):
            continue
        kind = _s(item.get("type"))
        content = _item_content(item)
        if kind == "text":
            parts.append(_s(content.get("content")))
        else:
            parts.append(_kind_and_text(kind, {kind: content}, nested=True)[1])
    return " ".join(p for p in parts if p)


def _kind_and_text(msgtype: str, message: Mapping[str, Any], *, nested: bool = False) -> tuple[MessageKind, str]:
    body = _obj(message, msgtype) if msgtype else {}
    if msgtype == "text":
        content = _s(body.get("content"))
        if not content and not nested:
            raise _BadRecord("text.content: missing or blank")
        return MessageKind.TEXT, content
    if msgtype in _PLACEHOLDERS:
        return _PLACEHOLDERS[msgtype]
    if msgtype == "file":
        name = _s(body.get("filename"))
        return MessageKind.FILE, f"[文件] {name}" if name else "[文件]"
    if msgtype == "link":
        return MessageKind.LINK, _joined(_s(body.get("title")), _s(body.get("link_url"))) or "[链接]"
    if msgtype == "location":
        return MessageKind.OTHER, _joined("[位置]", _s(body.get("title")) or _s(body.get("address")))
    if msgtype == "chatrecord":
        return MessageKind.OTHER, _joined("[聊天记录]", _s(body.get("title")))
    if msgtype == "weapp":
        return MessageKind.OTHER, _joined("[小程序]", _s(body.get("title")) or _s(body.get("displayname")))
    if msgtype == "redpacket":
        return MessageKind.OTHER, _joined("[红包]", _s(body.get("wish")))
    if msgtype == "mixed" and not nested:
        return MessageKind.TEXT, _mixed_text(body) or _OTHER_PLACEHOLDER
    return MessageKind.OTHER, _OTHER_PLACEHOLDER


def map_message(message: Mapping[str, Any], *, group_topic: str = "") -> GroupMessage | None:
    """One decrypted archive message as a :class:`GroupMessage`; None for what is skipped (1:1
    chats, switch records). Raises ``ValueError`` (naming the field) for a bad one."""
    try:
        return _map(message, group_topic)
    except (_BadRecord, MessageError) as e:
        raise ValueError(str(e)) from None


def _map(message: Mapping[str, Any], group_topic: str) -> GroupMessage | None:
    if _s(message.get("action")) == "switch":
        return None
    roomid = message.get("roomid")
    if roomid is not None and not isinstance(roomid, str):
        raise _BadRecord("roomid: not a string")
    if not roomid or not roomid.strip():
        return None
    msgid = _s(message.get("msgid"))
    if not msgid:
        raise _BadRecord("msgid: missing")
    sender = message.get("from")
    if not isinstance(sender, str) or not sender.strip():
        raise _BadRecord("from: missing")
    sender = sender.strip()
    msgtime = message.get("msgtime")
    if isinstance(msgtime, bool) or not isinstance(msgtime, (int, float)) or msgtime <= 0:
        raise _BadRecord(f"msgtime: not epoch milliseconds: {msgtime!r}"[:120])
    try:
        sent_at = datetime.fromtimestamp(msgtime / 1000, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise _BadRecord(f"msgtime: out of range: {msgtime!r}") from None
    msgtype = _s(message.get("msgtype"))
    sender_id, sender_name = sender, sender
    if msgtype == "revoke":
        kind, text = MessageKind.SYSTEM, f"{sender} 撤回了一条消息"
        sender_id, sender_name = SYSTEM_SENDER_ID, SYSTEM_SENDER_NAME
    elif msgtype in ("agree", "disagree"):
        who = _s(_obj(message, msgtype).get("userid")) or sender
        kind = MessageKind.SYSTEM
        text = f"{who} {'同意' if msgtype == 'agree' else '不同意'}存档会话内容"
        sender_id, sender_name = SYSTEM_SENDER_ID, SYSTEM_SENDER_NAME
    else:
        kind, text = _kind_and_text(msgtype, message)
    return GroupMessage(
        id=msgid,
        source=SOURCE,
        group_id=GROUP_PREFIX + roomid.strip(),
        sender_id=sender_id,
        sender_name=sender_name,
        sent_at=sent_at,
        kind=kind,
        text=text,
        group_topic=group_topic,
    )


def parse_decrypted(data: bytes) -> dict[str, Any]:
    """The decrypted message's JSON, control bytes (<0x20 but tab, LF, CR) deleted first."""
    try:
        value = json.loads(data.translate(None, _CONTROL).decode("utf-8"), strict=False)
    except UnicodeDecodeError:
        raise _BadRecord("decrypted message: not UTF-8") from None
    except json.JSONDecodeError as e:
        raise _BadRecord(f"decrypted message: not JSON ({e.msg} at character {e.pos})") from None
    if not isinstance(value, dict):
        raise _BadRecord("decrypted message: not a JSON object")
    return value


# --- the source ---------------------------------------------------------------------------------


class _KeyProblem(Exception):
    """Internal: the record cannot be decrypted for lack of the right key; the pull stops before it."""


class WeComArchive:
    """The chat archive of one corporation (see the module docstring)."""

    def __init__(
        self,
        config: WeComSource,
        *,
        client: FinanceClient | None = None,
        http: httpx.Client | None = None,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        env = os.environ if environ is None else environ
        secret = env.get(config.secret_env, "")
        if not secret.strip():
            raise SourceError(
                f"source {config.name!r}: environment variable {config.secret_env} is not set "
                "(the chat archive's Secret, from the WeCom admin console)",
                retry=False,
            )
        self._config = config
        self._keys = _load_private_keys(config.private_keys)
        if http is None:
            try:
                import httpx
            except ImportError:
                raise SourceError(f"the WeCom chat archive needs httpx: {INSTALL_HINT}", retry=False) from None
            http = httpx.Client(timeout=config.timeout_seconds)
        _install_redaction()
        self._groups = _GroupApi(http, config.api_base, config.corp_id, secret.strip(), clock)
        if client is None:
            try:
                client = SdkFinanceClient(config.corp_id, secret.strip(), proxy=config.proxy)
            except FinanceError as e:
                raise SourceError(f"source {config.name!r}: Finance SDK {e}", retry=e.code in RETRYABLE_CODES) from None
            except OSError as e:
                raise SourceError(f"source {config.name!r}: cannot load the Finance SDK: {e}", retry=False) from None
        self._client = client
        self._rooms: dict[str, _Room] = {}
        self._clock = clock

    @property
    def name(self) -> str:
        return self._config.name

    @property
    def every(self) -> timedelta:
        return timedelta(minutes=self._config.every_minutes)

    def members(self, group_id: str) -> tuple[str, ...]:
        """The member ids the group-info API last named for ``group_id`` (empty if never fetched)."""
        room = self._rooms.get(group_id.removeprefix(GROUP_PREFIX))
        return room.members if room else ()

    def pull(self, cursor: Mapping[str, Any]) -> PullResult:
        raw_seq = cursor.get("seq", 0)
        if isinstance(raw_seq, bool) or not isinstance(raw_seq, int) or raw_seq < 0:
            raise SourceError(f"source {self.name!r}: stored cursor seq is not a non-negative integer", retry=False)
        seq = raw_seq
        raw_keys = cursor.get("keys", [])
        if not isinstance(raw_keys, list) or not all(isinstance(k, str) for k in raw_keys):
            raise SourceError(f"source {self.name!r}: stored cursor keys is not a list of key versions", retry=False)
        proven = set(raw_keys)
        result = PullResult(cursor=dict(cursor))
        decoded: list[tuple[Mapping[str, Any], dict[str, Any]]] = []
        for batch_number in range(MAX_BATCHES_PER_PULL):
            try:
                records = self._fetch(seq)
            except SourceError:
                if batch_number == 0:
                    raise
                log.warning("source %s: a later GetChatData failed; the next pull goes on from seq %d", self.name, seq)
                break
            stopped = False
            for record in records:
                position = _int(record.get("seq")) if isinstance(record, Mapping) else -1
                if position < 0:
                    result.errors.append(self._row_error(record, "seq: missing or not an integer; skipped"))
                    continue
                if position <= seq:
                    continue  # not after the cursor: already passed
                try:
                    decoded.append((record, self._decrypt(record, proven)))
                except _KeyProblem as e:
                    result.errors.append(self._row_error(record, str(e)))
                    stopped = True
                    break
                except _BadRecord as e:
                    result.errors.append(self._row_error(record, str(e)))
                seq = position
            if stopped or len(records) < self._config.batch:
                break
        result.cursor = {"seq": seq, "keys": sorted(proven)}
        self._build(decoded, result)
        log.info(
            "source %s: %d messages, %d bad records, up to seq %d",
            self.name,
            len(result.messages),
            len(result.errors),
            seq,
        )
        return result

    def _row_error(self, record: Any, message: str) -> RowError:
        seq = _int(record.get("seq")) if isinstance(record, Mapping) else -1
        msgid = _s(record.get("msgid")) if isinstance(record, Mapping) else ""
        where = (f"seq {seq}" if seq >= 0 else "seq ?") + (f" (msgid {msgid})" if msgid else "")
        return RowError(path=self.name, line=max(seq, 0), message=f"{where}: {message}")

    def _fetch(self, seq: int) -> list[Any]:
        try:
            raw = self._client.get_chat_data(seq, self._config.batch, self._config.timeout_seconds)
        except FinanceError as e:
            raise SourceError(f"source {self.name!r}: {e}", retry=e.code in RETRYABLE_CODES) from None
        body: Any = raw
        if isinstance(raw, (bytes, str)):
            try:
                body = json.loads(raw.translate(None, _CONTROL) if isinstance(raw, bytes) else raw, strict=False)
            except ValueError:
                raise SourceError(f"source {self.name!r}: GetChatData answered something that is not JSON") from None
        if not isinstance(body, Mapping):
            raise SourceError(f"source {self.name!r}: GetChatData answered something that is not a JSON object")
        code = _int(body.get("errcode", 0))
        if code != 0:
            raise SourceError(
                f"source {self.name!r}: GetChatData failed: error {code} "
                f"({SDK_ERRORS.get(code) or str(body.get('errmsg', ''))[:200] or 'unknown'})",
                retry=code in RETRYABLE_CODES,
            )
        chatdata = body.get("chatdata") or []
        if not isinstance(chatdata, list):
            raise SourceError(f"source {self.name!r}: GetChatData: chatdata is not a list")
        return chatdata

    def _decrypt(self, record: Mapping[str, Any], proven: set[str]) -> dict[str, Any]:
        """The record's message. ``proven``: the key versions that have decrypted a record (kept in
        the cursor); a ``DecryptData`` failure with a key not yet proven is a key problem."""
        version = str(record.get("publickey_ver", "")).strip()
        key = self._keys.get(version)
        if key is None:
            raise _KeyProblem(
                f"publickey_ver {version or '?'}: no private key configured for this version "
                "(add it to private_keys; the pull resumes here)"
            )
        encrypted_key = record.get("encrypt_random_key")
        encrypted_msg = record.get("encrypt_chat_msg")
        if not isinstance(encrypted_key, str) or not encrypted_key:
            raise _BadRecord("encrypt_random_key: missing")
        if not isinstance(encrypted_msg, str) or not encrypted_msg:
            raise _BadRecord("encrypt_chat_msg: missing")
        try:
            blob = base64.b64decode(encrypted_key, validate=True)
        except (binascii.Error, ValueError):
            raise _BadRecord("encrypt_random_key: not base64") from None
        from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15

        wrong_key = f"wrong key file for publickey_ver {version}? The pull resumes here once it is fixed"
        try:
            random_key = key.decrypt(blob, PKCS1v15())
        except ValueError:
            # older OpenSSL; newer ones answer a wrong key with random bytes (implicit rejection)
            raise _KeyProblem(f"encrypt_random_key: does not RSA-decrypt ({wrong_key})") from None
        try:
            plain = self._client.decrypt_data(random_key, encrypted_msg)
        except FinanceError as e:
            if version not in proven:
                raise _KeyProblem(
                    f"encrypt_chat_msg: {e}, and this key has decrypted nothing yet ({wrong_key})"
                ) from None
            raise _BadRecord(f"encrypt_chat_msg: {e}") from None
        finally:
            del random_key
        proven.add(version)
        message = parse_decrypted(plain)
        message.setdefault("msgid", record.get("msgid"))
        return message

    def _build(self, decoded: list[tuple[Mapping[str, Any], dict[str, Any]]], result: PullResult) -> None:
        roomids = {_s(m.get("roomid")) for _, m in decoded} - {""}
        for roomid in sorted(roomids):
            fresh = self._fetch_room(roomid)
            if fresh is not None:
                result.rooms.append(fresh)
        for record, message in decoded:
            room = self._rooms.get(_s(message.get("roomid")))
            try:
                mapped = _map(message, room.info.topic if room else "")
            except (_BadRecord, MessageError) as e:
                result.errors.append(self._row_error(record, str(e)))
                continue
            if mapped is not None:
                result.messages.append(mapped)

    def _fetch_room(self, roomid: str) -> RoomInfo | None:
        """Fetch the room's name and members unless fetched within a day; the info when fetched now."""
        now = self._clock()
        known = self._rooms.get(roomid)
        if known is not None and now - known.fetched < ROOM_REFRESH_SECONDS:
            return None
        try:
            info, members = self._groups.group(roomid)
        except SourceError as e:
            log.warning("source %s: group info of room %s: %s", self.name, roomid, e)
            return None
        except Exception as e:  # noqa: BLE001 - httpx transport errors; the messages go on without the name
            log.warning("source %s: group info of room %s: %s", self.name, roomid, type(e).__name__)
            return None
        self._rooms[roomid] = _Room(info=info, members=members, fetched=now)
        return info


def build_wecom_source(config: WeComSource) -> WeComArchive:
    """The source for a ``[[sources]] kind = "wecom"`` entry (loads the SDK: needs ``qunzhi[wecom]``)."""
    return WeComArchive(config)
