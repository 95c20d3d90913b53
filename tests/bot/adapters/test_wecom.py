"""The WeCom chat archive source (bot.adapters.wecom), below Tencent's network.

The Finance SDK is replaced by :class:`FakeFinance`, which plays Tencent's side: it holds the
plaintext messages, encrypts each record's random key with the test's RSA public key (PKCS#1 v1.5,
as the archive does) and encrypts the message with that key. The SDK's own symmetric scheme
(``DecryptData``) is NOT reproduced: the real ``DecryptData`` parses the RSA-decrypted key as a
protobuf (``wwmsgauditsdk::SdkKeyInfo``) whose layout is not documented; the fake owns both its
encrypt and its decrypt (AES-256-CBC, IV = key[:16], PKCS#7, base64) and only the contract is the
SDK's: ``decrypt_data(rsa-decrypted key, encrypt_chat_msg) -> the message's JSON bytes``.
The group-info API is a local server (``wecom_server.py``).
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import subprocess
import sys
import textwrap
import traceback
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import padding as sym_padding, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bot.adapters import wecom
from bot.adapters.source import SourceError
from bot.adapters.wecom import FinanceError, WeComArchive
from bot.config import ConfigError, WeComSource, load_config
from bot.message import MessageKind, RoomInfo
from bot.store.cursors import cursor, save_cursor
from tests.bot.adapters.wecom_server import WeComServer

CORP = "ww0a1b2c3d4e5f6789"
SECRET = "s3cr3t-Archive-Value-0123456789abcdefXYZ"
ENV = "QUNZHI_TEST_WECOM_SECRET"
ROOM = "wrOgQhDgAAabcdef0123456789"
ROOM2 = "wrOgQhDgAAzyxwvu9876543210"
T0 = 1735700000000  # 2025-01-01 02:53:20 UTC, in ms


# --- keys and the fake SDK --------------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_keys() -> dict[str, rsa.RSAPrivateKey]:
    # WeCom keys are 2048 bits; 1024 takes the same code path and loads several times faster
    return {v: rsa.generate_private_key(public_exponent=65537, key_size=1024) for v in ("1", "2", "9")}


def pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )


@pytest.fixture
def key_files(tmp_path: Path, rsa_keys: dict[str, rsa.RSAPrivateKey]) -> dict[str, str]:
    """Files for versions 1 and 2 (version 9 exists on Tencent's side only)."""
    out = {}
    for v in ("1", "2"):
        path = tmp_path / f"wecom_v{v}.pem"
        path.write_bytes(pem(rsa_keys[v]))
        out[v] = str(path)
    return out


def _aes(key: bytes) -> Cipher[modes.CBC]:
    return Cipher(algorithms.AES(key), modes.CBC(key[:16]))


class FakeFinance:
    """Tencent's side of the archive: GetChatData and the symmetric DecryptData (see the module doc)."""

    def __init__(self, rsa_keys: dict[str, rsa.RSAPrivateKey]) -> None:
        self.public = {v: k.public_key() for v, k in rsa_keys.items()}
        self.records: list[dict[str, Any]] = []
        self.calls: list[tuple[int, int]] = []
        self.fail: FinanceError | None = None
        self.fail_after: int | None = None  # calls that succeed before 10001 network errors begin
        self.answer: bytes | None = None  # a raw GetChatData answer, once
        self.random_keys: list[bytes] = []

    def add(self, message: dict[str, Any] | bytes, *, version: str = "1", **override: Any) -> int:
        seq = (self.records[-1]["seq"] if self.records else 100) + 1
        plain = message if isinstance(message, bytes) else json.dumps(message, ensure_ascii=False).encode()
        key = secrets.token_hex(16).encode()  # 32 printable bytes
        self.random_keys.append(key)
        padder = sym_padding.PKCS7(128).padder()
        enc = _aes(key).encryptor()
        cipher = enc.update(padder.update(plain) + padder.finalize()) + enc.finalize()
        msgid = message.get("msgid", f"m{seq}") if isinstance(message, dict) else f"m{seq}"
        record = {
            "seq": seq,
            "msgid": msgid,
            "publickey_ver": int(version),
            "encrypt_random_key": base64.b64encode(self.public[version].encrypt(key, PKCS1v15())).decode(),
            "encrypt_chat_msg": base64.b64encode(cipher).decode(),
        }
        record.update(override)
        self.records.append(record)
        return seq

    def get_chat_data(self, seq: int, limit: int, timeout: int) -> bytes:
        self.calls.append((seq, limit))
        if self.fail is not None:
            raise self.fail
        if self.fail_after is not None and len(self.calls) > self.fail_after:
            raise FinanceError(10001, "GetChatData")
        if self.answer is not None:
            answer, self.answer = self.answer, None
            return answer
        chatdata = [r for r in self.records if r["seq"] > seq][:limit]
        return json.dumps({"errcode": 0, "errmsg": "ok", "chatdata": chatdata}).encode()

    def decrypt_data(self, key: bytes, encrypt_msg: str) -> bytes:
        try:
            raw = base64.b64decode(encrypt_msg, validate=True)
            dec = _aes(key).decryptor()
            unpadder = sym_padding.PKCS7(128).unpadder()
            return unpadder.update(dec.update(raw) + dec.finalize()) + unpadder.finalize()
        except ValueError:
            raise FinanceError(10006, "DecryptData") from None


def msg(
    msgid: str, msgtype: str = "text", *, roomid: str = ROOM, sender: str = "zhangsan", at: int = 0, **body: Any
) -> dict[str, Any]:
    m: dict[str, Any] = {
        "msgid": msgid,
        "action": "send",
        "from": sender,
        "tolist": ["lisi", "wmAbC123"],
        "roomid": roomid,
        "msgtime": T0 + at,
        "msgtype": msgtype,
    }
    m[msgtype] = body if body else ({"content": f"内容 {msgid}"} if msgtype == "text" else {})
    return m


@pytest.fixture
def server() -> Iterator[WeComServer]:
    s = WeComServer(CORP, SECRET)
    s.add_room(ROOM, "客户交流群", "zhangsan", ["zhangsan", "lisi", "wmAbC123", 1688850000000001])
    s.add_room(ROOM2, "售后群", "lisi", ["lisi"])
    yield s
    s.stop()


@pytest.fixture
def fake(rsa_keys: dict[str, rsa.RSAPrivateKey]) -> FakeFinance:
    return FakeFinance(rsa_keys)


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, SECRET)


def source(key_files: dict[str, str], server: WeComServer, **kw: Any) -> WeComSource:
    values: dict[str, Any] = {
        "kind": "wecom",
        "name": "wecom-test",
        "corp_id": CORP,
        "secret_env": ENV,
        "private_keys": key_files,
        "api_base": server.url,
        "batch": 1000,
    }
    values.update(kw)
    return WeComSource(**values)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


_clients: list[httpx.Client] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _clients:
        _clients.pop().close()


def archive(cfg: WeComSource, fake: FakeFinance, clock: Clock | None = None) -> WeComArchive:
    _clients.append(httpx.Client(timeout=5, verify=False))  # plain http on 127.0.0.1: no CA bundle to load
    return WeComArchive(cfg, client=fake, http=_clients[-1], clock=clock or Clock())


# --- decryption and mapping -------------------------------------------------------------------


def test_pull_decrypts_maps_and_names_rooms(
    env: None, key_files: dict[str, str], server: WeComServer, fake: FakeFinance
) -> None:
    fake.add(msg("7311111111111111111_1735700000000", content="明天下午三点开会"))
    fake.add(msg("m2", sender="wmAbC123", at=60_000, content="收到"), version="2")
    fake.add(msg("m3", roomid=ROOM2, sender="lisi", at=120_000, content="售后问题"))
    src = archive(source(key_files, server), fake)
    assert src.name == "wecom-test" and src.every.total_seconds() == 60

    result = src.pull({})

    assert result.errors == []
    assert result.cursor == {"seq": 103, "keys": ["1", "2"]}  # the key versions that have decrypted
    first, second, third = result.messages
    assert first.id == "7311111111111111111_1735700000000"
    assert first.source == "wecom"
    assert first.group_id == f"wecom:{ROOM}"
    assert first.sender_id == first.sender_name == "zhangsan"
    assert first.sent_at == datetime(2025, 1, 1, 2, 53, 20, tzinfo=timezone.utc)
    assert (first.kind, first.text, first.group_topic) == (MessageKind.TEXT, "明天下午三点开会", "客户交流群")
    assert (first.mentions, first.reply_to, first.quote) == ((), None, "")
    assert (second.sender_id, second.text, second.sent_at.second) == ("wmAbC123", "收到", 20)
    assert (third.group_id, third.group_topic) == (f"wecom:{ROOM2}", "售后群")
    assert result.rooms == [
        RoomInfo(group_id=f"wecom:{ROOM}", topic="客户交流群", owner_id="zhangsan"),
        RoomInfo(group_id=f"wecom:{ROOM2}", topic="售后群", owner_id="lisi"),
    ]
    # member ids parsed leniently (an int memberid becomes its decimal string)
    assert src.members(f"wecom:{ROOM}") == ("zhangsan", "lisi", "wmAbC123", "1688850000000001")


TYPE_CASES: list[tuple[str, dict[str, Any], MessageKind, str, str]] = [
    ("text", {"content": " 你好 "}, MessageKind.TEXT, "你好", "zhangsan"),
    (
        "image",
        {"sdkfileid": "CtYBMzA2OQ", "md5sum": "50de8e5ae8ffe4f1df7a93841f71993a", "filesize": 70961},
        MessageKind.IMAGE,
        "[图片]",
        "zhangsan",
    ),
    (
        "voice",
        {"voice_size": 4355, "play_length": 10, "sdkfileid": "kcyZjZqOXhETGYxajB2"},
        MessageKind.VOICE,
        "[语音]",
        "zhangsan",
    ),
    ("video", {"filesize": 3120, "play_length": 1, "sdkfileid": "CpsBMDIwMz"}, MessageKind.VIDEO, "[视频]", "zhangsan"),
    (
        "emotion",
        {"type": 1, "width": 100, "height": 100, "sdkfileid": "Cp4BMzA4ZT"},
        MessageKind.STICKER,
        "[表情]",
        "zhangsan",
    ),
    (
        "file",
        {"filename": "报价单.xlsx", "fileext": "xlsx", "filesize": 18234, "sdkfileid": "Cp4B"},
        MessageKind.FILE,
        "[文件] 报价单.xlsx",
        "zhangsan",
    ),
    (
        "link",
        {"title": "新品发布", "description": "详情", "link_url": "https://example.com/p/1", "image_url": ""},
        MessageKind.LINK,
        "新品发布 https://example.com/p/1",
        "zhangsan",
    ),
    (
        "location",
        {"longitude": 116.3, "latitude": 39.9, "address": "北京市海淀区", "title": "示例大厦", "zoom": 15},
        MessageKind.OTHER,
        "[位置] 示例大厦",
        "zhangsan",
    ),
    ("card", {"corpname": "示例公司", "userid": "wangwu"}, MessageKind.OTHER, "[名片]", "zhangsan"),
    (
        "chatrecord",
        {
            "title": "群聊的聊天记录",
            "item": [
                {"type": "ChatRecordText", "msgtime": 1735600000, "content": '{"content":"hi"}', "from_chatroom": True}
            ],
        },
        MessageKind.OTHER,
        "[聊天记录] 群聊的聊天记录",
        "zhangsan",
    ),
    (
        "mixed",
        {
            "item": [
                {"type": "text", "content": '{"content":"看这张图"}'},
                {"type": "image", "content": '{"md5sum":"abc","sdkfileid":"x"}'},
            ]
        },
        MessageKind.TEXT,
        "看这张图 [图片]",
        "zhangsan",
    ),
    (
        "weapp",
        {"title": "报名", "description": "活动报名", "username": "gh_abc@app", "displayname": "示例小程序"},
        MessageKind.OTHER,
        "[小程序] 报名",
        "zhangsan",
    ),
    (
        "redpacket",
        {"type": 1, "wish": "恭喜发财", "totalcnt": 3, "totalamount": 300},
        MessageKind.OTHER,
        "[红包] 恭喜发财",
        "zhangsan",
    ),
    (
        "revoke",
        {"pre_msgid": "7311111111111111111_1735700000000"},
        MessageKind.SYSTEM,
        "zhangsan 撤回了一条消息",
        "@system",
    ),
    (
        "agree",
        {"userid": "wmAbC123", "agree_time": 1735700000000},
        MessageKind.SYSTEM,
        "wmAbC123 同意存档会话内容",
        "@system",
    ),
    (
        "disagree",
        {"userid": "wmAbC123", "disagree_time": 1735700000000},
        MessageKind.SYSTEM,
        "wmAbC123 不同意存档会话内容",
        "@system",
    ),
    ("calendar", {"title": "周会", "creatorname": "张三"}, MessageKind.OTHER, "[其他消息]", "zhangsan"),
]


@pytest.mark.parametrize(("msgtype", "body", "kind", "text", "sender"), TYPE_CASES, ids=[c[0] for c in TYPE_CASES])
def test_every_message_type(
    env: None,
    key_files: dict[str, str],
    server: WeComServer,
    fake: FakeFinance,
    msgtype: str,
    body: dict[str, Any],
    kind: MessageKind,
    text: str,
    sender: str,
) -> None:
    m = msg("x1", msgtype, **body)
    if msgtype == "revoke":
        m["action"] = "recall"
    fake.add(m)
    result = archive(source(key_files, server), fake).pull({})
    assert result.errors == []
    (got,) = result.messages
    assert (got.kind, got.text, got.sender_id) == (kind, text, sender)
    assert "{" not in got.text and "sdkfileid" not in got.text  # no raw JSON or media ids leak


def test_one_to_one_and_switch_records_are_skipped_but_passed(
    env: None, key_files: dict[str, str], server: WeComServer, fake: FakeFinance
) -> None:
    fake.add(msg("p1", roomid=""))  # a 1:1 chat
    fake.add({"msgid": "sw1", "action": "switch", "time": T0, "user": "zhangsan"})
    fake.add(msg("g1"))
    result = archive(source(key_files, server), fake).pull({})
    assert [m.id for m in result.messages] == ["g1"]
    assert result.errors == [] and result.cursor["seq"] == 103


def test_map_message_is_usable_alone() -> None:
    got = wecom.map_message(msg("a", content="hi"), group_topic="群")
    assert got is not None and (got.group_id, got.group_topic) == (f"wecom:{ROOM}", "群")
    assert wecom.map_message(msg("a", roomid="")) is None
    with pytest.raises(ValueError, match="msgtime"):
        wecom.map_message({**msg("a"), "msgtime": "soon"})


# --- seq bookkeeping ------------------------------------------------------------------------------


def test_batches_within_one_pull_follow_the_seq(
    env: None, key_files: dict[str, str], server: WeComServer, fake: FakeFinance
) -> None:
    for i in range(5):
        fake.add(msg(f"b{i}", at=i))
    result = archive(source(key_files, server, batch=2), fake).pull({"seq": 0})
    assert [m.id for m in result.messages] == [f"b{i}" for i in range(5)]
    assert fake.calls == [(0, 2), (102, 2), (104, 2)]  # a short batch ends the pull
    assert result.cursor["seq"] == 105


def test_two_pulls_and_a_restart_lose_nothing_and_repeat_nothing(
    env: None, key_files: dict[str, str], server: WeComServer, fake: FakeFinance, sessions: Any
) -> None:
    cfg = source(key_files, server, batch=3)
    stored: list[str] = []

    def run_once(src: WeComArchive) -> None:
        with sessions() as s:
            result = src.pull(cursor(s, cfg.name))
            stored.extend(m.id for m in result.messages)  # the runner stores the messages first,
            save_cursor(s, cfg.name, result.cursor)  # then the cursor, in one transaction
            s.commit()

    for i in range(4):
        fake.add(msg(f"a{i}", at=i))
    first = archive(cfg, fake)
    run_once(first)
    for i in range(2):
        fake.add(msg(f"b{i}", at=10 + i))
    run_once(first)
    run_once(first)  # nothing new: nothing stored, cursor unchanged
    for i in range(5):
        fake.add(msg(f"c{i}", at=20 + i))
    restarted = archive(cfg, fake)  # a new process: only the stored cursor carries over
    run_once(restarted)

    expected = [f"a{i}" for i in range(4)] + ["b0", "b1"] + [f"c{i}" for i in range(5)]
    assert stored == expected
    with sessions() as s:
        assert cursor(s, cfg.name) == {"seq": 111, "keys": ["1"]}


@pytest.mark.parametrize("bad", [{"seq": -1}, {"seq": "12"}, {"seq": True}, {"seq": 1, "keys": "1"}])
def test_a_broken_stored_cursor_is_a_clear_error(
    env: None, key_files: dict[str, str], server: WeComServer, fake: FakeFinance, bad: dict[str, Any]
) -> None:
    with pytest.raises(SourceError, match="stored cursor") as e:
        archive(source(key_files, server), fake).pull(bad)
    assert e.value.retry is False


# --- malformed records ----------------------------------------------------------------------------


def test_bad_records_are_named_by_seq_and_the_rest_goes_on(
    env: None, key_files: dict[str, str], server: WeComServer, fake: FakeFinance
) -> None:
    fake.add(msg("ok1"))
    fake.add(msg("badkey"), encrypt_random_key="%%%not base64%%%")
    fake.add(msg("badmsg"), encrypt_chat_msg="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")  # DecryptData fails
    fake.add(b'{"msgid":"nojson","roomid":')  # decrypts, but is not JSON
    fake.add(b'["a list"]')
    fake.add({**msg("notime"), "msgtime": None})
    fake.add(msg("blank", content="   "))
    fake.add({**msg("nofrom"), "from": ""})
    fake.add(msg("ok2"))
    result = archive(source(key_files, server), fake).pull({})
    assert [m.id for m in result.messages] == ["ok1", "ok2"]
    assert result.cursor["seq"] == 109
    assert [(e.path, e.line) for e in result.errors] == [("wecom-test", s) for s in range(102, 109)]
    messages = [e.message for e in result.errors]
    assert messages[0].startswith("seq 102 (msgid badkey): encrypt_random_key: not base64")
    assert "seq 103" in messages[1] and "10006" in messages[1]
    assert "seq 104" in messages[2] and "not JSON" in messages[2]
    assert "not a JSON object" in messages[3]
    assert "seq 106 (msgid notime): msgtime" in messages[4]
    assert "text.content" in messages[5]
    assert "from: missing" in messages[6]


def test_control_bytes_are_stripped_before_parsing(
    env: None, key_files: dict[str, str], server: WeComServer, fake: FakeFinance
) -> None:
    raw = json.dumps(msg("cb", content="第一行\n第二行\t完"), ensure_ascii=False).encode()
    raw = raw.replace("第二行".encode(), b"\x00\x01\x1f" + "第二行".encode() + b"\x08\x0b")
    raw = raw.replace(b'"msgtype"', b'\x02"msgtype"')
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)  # as the archive delivers it, it is not JSON
    fake.add(raw)
    result = archive(source(key_files, server), fake).pull({})
    assert result.errors == []
    assert result.messages[0].text == "第一行\n第二行\t完"


def test_a_record_without_a_seq_is_named_and_passed(
    env: None, key_files: dict[str, str], server: WeComServer, fake: FakeFinance
) -> None:
    fake.answer = json.dumps({"errcode": 0, "chatdata": [{"msgid": "noseq"}, "junk"]}).encode()
    result = archive(source(key_files, server), fake).pull({"seq": 7})
    assert [e.message for e in result.errors] == [
        "seq ? (msgid noseq): seq: missing or not an integer; skipped",
        "seq ?: seq: missing or not an integer; skipped",
    ]
    assert result.cursor["seq"] == 7


def test_a_record_for_a_key_we_lack_stops_the_pull_before_it_until_the_key_is_added(
    env: None,
    tmp_path: Path,
    key_files: dict[str, str],
    server: WeComServer,
    fake: FakeFinance,
    rsa_keys: dict[str, rsa.RSAPrivateKey],
) -> None:
    fake.add(msg("k1"))
    fake.add(msg("k9"), version="9")
    fake.add(msg("k2"))
    result = archive(source(key_files, server), fake).pull({})
    assert [m.id for m in result.messages] == ["k1"]
    assert result.cursor["seq"] == 101  # not past the record it could not read
    (error,) = result.errors
    assert error.line == 102 and "publickey_ver 9: no private key" in error.message
    # the operator adds the key of version 9: the next pull reads it and what follows
    (tmp_path / "v9.pem").write_bytes(pem(rsa_keys["9"]))
    fixed = archive(source(key_files | {"9": str(tmp_path / "v9.pem")}, server), fake)
    again = fixed.pull(result.cursor)
    assert [m.id for m in again.messages] == ["k9", "k2"] and again.errors == []


def test_a_wrong_key_file_for_a_version_stops_the_pull(
    env: None, key_files: dict[str, str], server: WeComServer, fake: FakeFinance
) -> None:
    fake.add(msg("w1"))
    fake.add(msg("w2"), version="2")
    swapped = {"1": key_files["1"], "2": key_files["1"]}  # version 2 points at version 1's key
    result = archive(source(swapped, server), fake).pull({})
    assert [m.id for m in result.messages] == ["w1"]
    assert result.cursor == {"seq": 101, "keys": ["1"]}
    (error,) = result.errors
    assert error.line == 102 and "wrong key file for publickey_ver 2" in error.message
    fixed = archive(source(key_files, server), fake).pull(result.cursor)
    assert [m.id for m in fixed.messages] == ["w2"] and fixed.cursor == {"seq": 102, "keys": ["1", "2"]}


def test_a_bad_record_under_a_proven_key_is_passed_even_after_a_restart(
    env: None, key_files: dict[str, str], server: WeComServer, fake: FakeFinance
) -> None:
    fake.add(msg("p1"))
    fake.add(msg("p2"), encrypt_chat_msg="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    fake.add(msg("p3"))
    cfg = source(key_files, server)
    unproven = archive(cfg, fake).pull({"seq": 101})  # key 1 has decrypted nothing yet: stop
    assert unproven.messages == [] and unproven.cursor == {"seq": 101, "keys": []}
    proven = archive(cfg, fake).pull({"seq": 101, "keys": ["1"]})  # the cursor remembers it worked
    assert [m.id for m in proven.messages] == ["p3"] and proven.cursor["seq"] == 103
    assert "seq 102 (msgid p2): encrypt_chat_msg: DecryptData failed: error 10006" in proven.errors[0].message


# --- secrets ----------------------------------------------------------------------------------------


def _key_lines(key_files: dict[str, str]) -> list[str]:
    lines = []
    for path in key_files.values():
        lines += [line for line in Path(path).read_text().splitlines() if not line.startswith("-----")]
    return lines


def test_keys_and_secret_never_reach_logs_or_errors(
    env: None, key_files: dict[str, str], server: WeComServer, fake: FakeFinance, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.add(msg("s1"))
    fake.add(msg("s2"), encrypt_chat_msg="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    server.fail_next(500, {"errcode": -1})
    src = archive(source(key_files, server), fake)
    result = src.pull({})
    fake.add(msg("s3", roomid=ROOM2))
    src.pull(result.cursor)  # fetches a token: httpx logs the gettoken URL at INFO
    fake.fail = FinanceError(10009, "GetChatData")
    with pytest.raises(SourceError) as failed:
        src.pull({})

    assert any("gettoken" in r.getMessage() for r in caplog.records)  # the request was logged ...
    tokens = list(server.tokens)
    said = caplog.text + "\n".join(str(e) for e in result.errors) + str(failed.value)
    assert SECRET not in said  # ... with the Secret and the token redacted
    assert tokens and not any(t in said for t in tokens)
    for line in _key_lines(key_files):
        assert line not in said
    for key in fake.random_keys:
        assert key.decode() not in said


def test_missing_secret_variable_is_named(
    key_files: dict[str, str], server: WeComServer, fake: FakeFinance, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    with pytest.raises(SourceError, match=f"environment variable {ENV} is not set") as e:
        archive(source(key_files, server), fake)
    assert e.value.retry is False


def test_unreadable_and_wrong_key_files_are_named_without_their_content(
    env: None, tmp_path: Path, server: WeComServer, fake: FakeFinance
) -> None:
    missing = tmp_path / "nope.pem"
    with pytest.raises(SourceError, match=r"private_keys\['1'\] .*nope.pem.*cannot read"):
        archive(source({"1": str(missing)}, server), fake)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text(f"-----BEGIN RSA PRIVATE KEY-----\n{SECRET}\n-----END RSA PRIVATE KEY-----\n")
    with pytest.raises(SourceError) as e:
        archive(source({"3": str(garbage)}, server), fake)
    assert "private_keys['3']" in str(e.value) and "not an unencrypted PEM RSA private key" in str(e.value)
    assert SECRET not in "".join(traceback.format_exception(e.value))  # not in any chained exception either
    ec_key = tmp_path / "ec.pem"
    ec_key.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(SourceError, match="not an unencrypted PEM RSA private key"):
        archive(source({"4": str(ec_key)}, server), fake)


def test_without_the_extra_the_error_says_what_to_install(
    env: None, key_files: dict[str, str], server: WeComServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wecom.importlib.util, "find_spec", lambda name, package=None: None)
    with pytest.raises(SourceError, match=r"pip install 'qunzhi\[wecom\]'") as e:
        wecom.build_wecom_source(source(key_files, server))
    assert e.value.retry is False


# --- errors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "retry"), [(10001, True), (10002, True), (10003, True), (10000, False), (10009, False), (10011, False)]
)
def test_sdk_failures_say_their_code_and_whether_to_retry(
    env: None, key_files: dict[str, str], server: WeComServer, fake: FakeFinance, code: int, retry: bool
) -> None:
    src = archive(source(key_files, server), fake)
    fake.fail = FinanceError(code, "GetChatData")
    with pytest.raises(SourceError, match=str(code)) as raised:
        src.pull({})
    assert raised.value.retry is retry
    fake.fail = None
    fake.answer = json.dumps({"errcode": code, "errmsg": "x", "chatdata": []}).encode()  # the code in the body
    with pytest.raises(SourceError, match=f"error {code}") as in_body:
        src.pull({})
    assert in_body.value.retry is retry


def test_an_answer_that_is_not_json_is_a_source_error(
    env: None, key_files: dict[str, str], server: WeComServer, fake: FakeFinance
) -> None:
    fake.answer = b"<html>gateway</html>"
    with pytest.raises(SourceError, match="not JSON"):
        archive(source(key_files, server), fake).pull({})


def test_a_failure_after_the_first_batch_keeps_what_was_read(
    env: None, key_files: dict[str, str], server: WeComServer, fake: FakeFinance
) -> None:
    for i in range(3):
        fake.add(msg(f"f{i}", at=i))
    fake.fail_after = 1
    result = archive(source(key_files, server, batch=2), fake).pull({})
    assert [m.id for m in result.messages] == ["f0", "f1"] and result.cursor["seq"] == 102


# --- the group-info API ---------------------------------------------------------------------------


def test_token_is_cached_until_it_expires_and_rooms_are_fetched_once_a_day(
    env: None, key_files: dict[str, str], server: WeComServer, fake: FakeFinance
) -> None:
    clock = Clock()
    src = archive(source(key_files, server), fake, clock)
    fake.add(msg("r1"))
    fake.add(msg("r2", roomid=ROOM2))
    first = src.pull({})
    assert server.count("/cgi-bin/gettoken") == 1 and server.count("/cgi-bin/msgaudit/groupchat/get") == 2
    assert len(first.rooms) == 2
    get = [r for r in server.requests if r[1] == "/cgi-bin/msgaudit/groupchat/get"][0]
    assert get[0] == "POST" and get[3] == {"roomid": ROOM} and get[2]["access_token"] == [next(iter(server.tokens))]
    token_query = [r for r in server.requests if r[1] == "/cgi-bin/gettoken"][0][2]
    assert token_query == {"corpid": [CORP], "corpsecret": [SECRET]}

    fake.add(msg("r3"))
    second = src.pull(first.cursor)
    assert second.rooms == [] and second.messages[0].group_topic == "客户交流群"  # cached name
    assert server.count("/cgi-bin/msgaudit/groupchat/get") == 2

    clock.now += 24 * 3600  # a day later the room is fetched again, with a new token (7200 s expired)
    server.rooms[ROOM]["roomname"] = "客户交流群（新）"
    fake.add(msg("r4"))
    third = src.pull(second.cursor)
    assert third.messages[0].group_topic == "客户交流群（新）" and third.rooms[0].topic == "客户交流群（新）"
    assert server.count("/cgi-bin/gettoken") == 2


@pytest.mark.parametrize("how", ["expired", "invalid"])
def test_a_rejected_token_is_fetched_again_once(
    env: None, key_files: dict[str, str], server: WeComServer, fake: FakeFinance, how: str
) -> None:
    src = archive(source(key_files, server), fake)
    fake.add(msg("t1"))
    src.pull({})
    if how == "expired":
        server.expire_tokens()  # 42001
    else:
        server.tokens.clear()  # 40014
    fake.add(msg("t2", roomid=ROOM2))  # a new room, while the cached token still looks fresh
    result = src.pull({"seq": 101})
    assert server.count("/cgi-bin/gettoken") == 2
    assert server.count("/cgi-bin/msgaudit/groupchat/get") == 3  # the rejected call, and its retry
    assert result.messages[0].group_topic == "售后群" and len(result.rooms) == 1
    fake.add(msg("t3", roomid="wrThird"))
    server.add_room("wrThird", "三群", "lisi", [])
    for _ in range(2):  # rejected again with a fresh token: no loop, the messages go on without the name
        server.fail_next(
            200, {"errcode": 42001, "errmsg": "access_token expired"}, path="/cgi-bin/msgaudit/groupchat/get"
        )
    assert [m.group_topic for m in src.pull({"seq": 102}).messages] == [""]
    assert server.count("/cgi-bin/gettoken") == 3 and server.count("/cgi-bin/msgaudit/groupchat/get") == 5


def test_group_info_failures_leave_the_messages_without_a_name(
    env: None, key_files: dict[str, str], server: WeComServer, fake: FakeFinance, caplog: pytest.LogCaptureFixture
) -> None:
    fake.add(msg("u1", roomid="wrUnknownRoom"))
    result = archive(source(key_files, server), fake).pull({})
    assert [(m.id, m.group_topic) for m in result.messages] == [("u1", "")] and result.rooms == []
    assert "301052" in caplog.text


def test_a_wrong_secret_at_gettoken_is_logged_without_it(
    key_files: dict[str, str],
    server: WeComServer,
    fake: FakeFinance,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv(ENV, "wrong-secret-value-123")
    caplog.set_level(logging.DEBUG)
    fake.add(msg("v1"))
    result = archive(source(key_files, server), fake).pull({})
    assert [m.group_topic for m in result.messages] == [""]
    assert "gettoken: errcode 40001" in caplog.text and "wrong-secret-value-123" not in caplog.text


# --- the config ---------------------------------------------------------------------------------------


def _toml(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "qunzhi.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_a_wecom_source_validates(tmp_path: Path) -> None:
    config = load_config(
        _toml(
            tmp_path,
            '[[sources]]\nkind = "wecom"\nname = "archive"\ncorp_id = "ww0a1b"\n'
            '[sources.private_keys]\n"1" = "/etc/qunzhi/wecom_v1.pem"\n',
        )
    )
    (src,) = config.sources
    assert isinstance(src, WeComSource)
    assert (src.secret_env, src.batch, src.private_keys) == (
        "QUNZHI_WECOM_SECRET",
        1000,
        {"1": "/etc/qunzhi/wecom_v1.pem"},
    )


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        ('[[sources]]\nkind = "wecom"\nname = "a"\nprivate_keys = {"1" = "k.pem"}\n', "corp_id"),
        ('[[sources]]\nkind = "wecom"\nname = "a"\ncorp_id = "ww"\nprivate_keys = {}\n', "private_keys"),
        ('[[sources]]\nkind = "wecom"\nname = "a"\ncorp_id = "ww"\n', "private_keys"),
        (
            '[[sources]]\nkind = "wecom"\nname = "a"\ncorp_id = "ww"\nprivate_keys = {"1" = "k.pem"}\nbatch = 5000\n',
            "batch",
        ),
    ],
)
def test_a_wecom_source_with_a_mistake_names_it(tmp_path: Path, body: str, complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint) as e:
        load_config(_toml(tmp_path, body))
    assert "sources" in str(e.value)


# --- the real SDK, when the extra is installed ------------------------------------------------------


@pytest.mark.skipif(
    wecom.importlib.util.find_spec("pyweworkfinance") is None,
    reason="the wecom extra (pyweworkfinance) is not installed",
)
def test_the_real_sdk_binding_loads_and_refuses_a_bad_key_offline() -> None:
    """In a child process: Tencent's library brings its own OpenSSL and C++ runtime, and once aborted
    a whole test process (an uncaught C++ exception); whatever it does, it must not take the suite down."""
    script = textwrap.dedent(
        """
        import pytest
        from bot.adapters import wecom
        from bot.adapters.wecom import FinanceError

        client = wecom.SdkFinanceClient("ww0a1b2c3d4e5f6789", "not-a-real-secret")  # Init does not go online
        try:
            with pytest.raises(FinanceError) as e:
                client.decrypt_data(b"0123456789abcdef0123456789abcdef", "A" * 64)
            assert e.value.code == 10008, e.value.code  # the key is not the SDK's SdkKeyInfo
            with pytest.raises(FinanceError):  # too short: refused before the SDK (which would abort)
                client.decrypt_data(b"x", "AAAA")
        finally:
            client.close()
        print("sdk ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "sdk ok" in done.stdout, done.stderr[-2000:]
