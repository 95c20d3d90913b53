"""The command line, end to end on real SQLite files: demo, replay, import, digest, db upgrade."""

import json
import shlex
import sqlite3
from pathlib import Path

import pytest

from bot.cli import DEMO_DIR, DEMO_SAMPLES, build_parser, main

SAMPLE = DEMO_DIR / "sample_day.jsonl"


def test_full_demo_run(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    n = sum(1 for s in DEMO_SAMPLES for line in (DEMO_DIR / s).read_text("utf-8").splitlines() if line.strip())
    assert f"{n} stored, 0 already stored, {n} analysed, 0 analysis failures" in printed
    assert f"replayed again: 0 stored, {n} already stored" in printed
    assert "== moderation log" in printed and "KICK (dry run)" in printed
    assert "群日报" in printed
    html = next(out.glob("digest-*.html"))
    assert str(html.resolve()) in printed
    page = html.read_text("utf-8")
    assert page.lstrip().lower().startswith("<!doctype html") and "AI 开发者交流群" in page
    assert "13800138000" not in page and "138 0013 8000" not in page  # masked
    with sqlite3.connect(out / "demo.db") as db:
        assert db.execute("select count(*) from messages").fetchone() == (n,)
        assert db.execute("select count(*) from messages where analysis_status != 'done'").fetchone() == (0,)
        assert db.execute("select count(*) from digests").fetchone() == (1,)
        assert db.execute("select count(*) from moderation_actions where action = 'kick'").fetchone()[0] >= 1

    # the commands it prints next give what it stored: its digest again, number for number, and a profile
    next_lines = printed.split("try next:\n", 1)[1].splitlines()
    digest_cmd, profile_cmd, briefing_cmd, web_cmd = [shlex.split(line)[1:] for line in next_lines[:4]]
    assert web_cmd == ["--config", str(out / "config.toml"), "web"]
    # the console login it prints works on the demo's database (checked against the stored hash)
    password = next_lines[4].rsplit(" ", 1)[1]
    from bot.store import accounts as accounts_db
    from bot.store.db import open_store as open_db
    from bot.web.security import verify_password

    engine, sessions = open_db(f"sqlite:///{out / 'demo.db'}")
    with sessions() as session:
        user, password_hash = accounts_db.user_by_name(session, "admin")
    engine.dispose()
    assert user.is_superadmin and verify_password(password_hash, password)
    assert password not in (out / "demo.db").read_bytes().decode("latin-1")
    assert digest_cmd[:2] == ["--config", str(out / "config.toml")] and digest_cmd[2] == "digest"
    demo_digest = printed.split(" WeChat message(s)) ==\n", 1)[1].split("HTML digest written to")[0]
    assert main(digest_cmd) == 0
    again = capsys.readouterr()
    assert again.out.split("HTML digest written to")[0] == demo_digest and "🚫 广告 12" in demo_digest
    assert again.err == ""
    assert main(profile_cmd) == 0
    assert capsys.readouterr().out.startswith(f"{profile_cmd[-1]}（wxid_")  # found by display name

    # the briefing of a person in the demo's three groups, printed, written as HTML and PNG, and
    # printed again, line for line, by the command it gives
    demo_briefing = printed.split("== briefing for wxid_w5c8ey1r4t22, 2026-11-25 (1 WeChat message(s)) ==\n", 1)[1]
    demo_briefing = demo_briefing.split("HTML briefing written to")[0]
    for group in ("【AI 开发者交流群】", "【阳光小学三年级(2)班…】", "【翠湖花园邻里群】"):
        assert group in demo_briefing
    assert "3 个群 · 3 个有消息 · 共 442 条" in demo_briefing and "家长会" in demo_briefing
    assert next(out.glob("briefing-*.html")).is_file()
    assert briefing_cmd[2:] == ["briefing", "--to", "wxid_w5c8ey1r4t22", "--date", "2026-11-25"]
    assert main(briefing_cmd) == 0
    assert capsys.readouterr().out.split("HTML briefing written to")[0] == demo_briefing


def test_demo_refuses_a_folder_it_did_not_create(tmp_path, capsys):
    precious = tmp_path / "notes.txt"
    precious.write_text("my notes", "utf-8")
    assert main(["demo", "--out", str(tmp_path)]) != 0
    assert "not a previous demo's output" in capsys.readouterr().err
    assert precious.read_text("utf-8") == "my notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_demo_refuses_a_file_as_its_folder(tmp_path, capsys):
    target = tmp_path / "a-file"
    target.write_text("x", "utf-8")
    assert main(["demo", "--out", str(target)]) != 0
    assert "is not a folder" in capsys.readouterr().err
    assert target.read_text("utf-8") == "x"


def test_demo_reruns_into_its_own_folder_and_keeps_what_it_did_not_write(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    (out / "mine.txt").write_text("keep me", "utf-8")
    assert main(["demo", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    n = sum(1 for s in DEMO_SAMPLES for line in (DEMO_DIR / s).read_text("utf-8").splitlines() if line.strip())
    assert printed.count(f"{n} stored, 0 already stored") == 2  # the second run started from a fresh database
    assert (out / "mine.txt").read_text("utf-8") == "keep me"
    assert (out / ".qunzhi-demo").is_file() and len(list(out.glob("digest-*.html"))) == 1


def write_config(tmp_path: Path) -> Path:
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "q.db"}"\n[digest]\nhtml_dir = "{tmp_path / "html"}"\n'
        '[[groups]]\nid = "g@chatroom"\nname = "测试群"\ntopic = "人工智能"\n',
        "utf-8",
    )
    return cfg


def test_replay_twice_changes_nothing_and_reports_bad_lines(tmp_path, capsys):
    cfg = write_config(tmp_path)
    lines = [
        {
            "id": "a1",
            "group_id": "g@chatroom",
            "sender_id": "u1",
            "time": "2026-11-25T09:00:00+08:00",
            "text": "请问 RAG 怎么评估召回率？",
        },
        {
            "id": "a2",
            "group_id": "g@chatroom",
            "sender_id": "u2",
            "time": "2026-11-25T09:01:00+08:00",
            "text": "哈哈哈",
        },
        {"id": "a3", "group_id": "g@chatroom", "sender_id": "u3", "time": "昨天", "text": "坏时间"},
    ]
    f = tmp_path / "day.jsonl"
    f.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n{oops\n", "utf-8")
    assert main(["--config", str(cfg), "replay", str(f)]) == 0
    first = capsys.readouterr()
    assert "2 messages read, 2 malformed rows skipped; 2 stored" in first.out
    assert f"{f}:3: time" in first.err and f"{f}:4:" in first.err
    assert main(["--config", str(cfg), "replay", str(f)]) == 0
    assert "0 stored, 2 already stored, 0 analysed" in capsys.readouterr().out

    assert main(["--config", str(cfg), "digest", "--group", "g@chatroom", "--date", "2026-11-25"]) == 0
    printed = capsys.readouterr().out
    assert "测试群" in printed and "RAG" in printed
    assert (tmp_path / "html" / "digest-g_chatroom-2026-11-25.html").exists()


def test_import_memotrace_csv_reports_malformed_rows_by_line(tmp_path, capsys):
    cfg = write_config(tmp_path)
    header = "localId,TalkerId,Type,SubType,IsSender,CreateTime,Status,StrContent,StrTime,Remark,NickName,Sender"
    rows = [
        "1,g@chatroom,1,0,0,1764032400,2,大家好，今天分享一篇大模型论文,2025-11-25 09:00:00,,阿杰,wxid_a",
        "2,g@chatroom,1,0,0,not-a-time,2,坏行,2025-11-25 09:01:00,,阿杰,wxid_a",
        "3,g@chatroom,47,0,0,1764032500,2,<msg/>,2025-11-25 09:02:00,,小王,wxid_b",
    ]
    f = tmp_path / "chat.csv"
    f.write_bytes(("\ufeff" + "\r\n".join([header, *rows]) + "\r\n").encode("utf-8"))
    assert main(["--config", str(cfg), "import", str(f)]) == 0
    out = capsys.readouterr()
    assert "2 messages read, 1 malformed rows skipped; 2 stored" in out.out
    assert f"{f}:3:" in out.err and "CreateTime" in out.err
    assert main(["--config", str(cfg), "import", str(f)]) == 0
    assert "0 stored, 2 already stored" in capsys.readouterr().out


def test_db_upgrade_is_idempotent_and_errors_are_one_line(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    assert main(["db", "upgrade", "--db", url]) == 0
    assert main(["db", "upgrade", "--db", url]) == 0
    assert "database at head" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text("[moderation]\nad_threshold = 2\n", "utf-8")
    assert main(["--config", str(bad), "db", "upgrade"]) == 2
    assert "moderation.ad_threshold" in capsys.readouterr().err
    assert main(["--config", str(write_config(tmp_path)), "digest", "--group", "g", "--date", "25/11"]) == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err
    assert main(["replay", str(tmp_path / "missing.jsonl"), "--db", url]) == 2
    # train: no encoder, or frozen embeddings without a model to keep them from
    assert main(["train", "--encoder", str(tmp_path / "no-encoder"), "--out", str(tmp_path / "t")]) == 2
    assert main(["train", "--freeze-embeddings", "--encoder", str(tmp_path), "--out", str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err
    assert "no converted encoder here" in err and "--freeze-embeddings keeps a trained model's embeddings" in err


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["demo"],
        ["replay"],
        ["import"],
        ["digest"],
        ["predict"],
        ["train"],
        ["eval"],
        ["extract"],
        ["run"],
        ["db"],
        ["db", "upgrade"],
        ["db", "requeue"],
    ],
)
def test_every_subcommand_has_help(argv, capsys):
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args([*argv, "--help"])
    assert e.value.code == 0
    assert "usage: qunzhi" in capsys.readouterr().out


@pytest.mark.parametrize(
    "task, labels", [("ad", {"ad", "normal"}), ("useful", {"useful", "useless"}), ("intent", None)]
)
def test_predict_writes_one_json_object_per_line_in_order(tmp_path, capsys, task, labels):
    lines = ["兼职刷单日赚300，加V：wx_abc123", "", "请问 LoRA 微调学习率设多少？", "哈哈哈"]
    src, dst = tmp_path / "in.txt", tmp_path / "out.jsonl"
    src.write_text("\n".join(lines) + "\n", "utf-8")
    assert main(["predict", "--task", task, "--topic", "人工智能", str(src), str(dst)]) == 0
    rows = [json.loads(x) for x in dst.read_text("utf-8").splitlines()]
    assert [r["text"] for r in rows] == lines
    for r in rows:
        assert set(r) == {"text", "label", "score", "p", "reasons"}
        assert r["score"] == pytest.approx(r["p"][r["label"]], abs=1e-3)
        assert abs(sum(r["p"].values()) - 1) < 1e-3 and r["reasons"]
        if labels:
            assert set(r["p"]) == labels
    if task == "ad":
        assert [r["label"] for r in rows] == ["ad", "normal", "normal", "normal"]
    assert f"{len(lines)} lines" in capsys.readouterr().out


def test_predict_with_rules_and_a_missing_model(tmp_path, capsys):
    src, dst = tmp_path / "in.txt", tmp_path / "out.jsonl"
    src.write_text("加V：wx_abc123 兼职日结\n", "utf-8")
    assert main(["predict", "--task", "ad", "--rules", str(src), str(dst)]) == 0
    (row,) = [json.loads(x) for x in dst.read_text("utf-8").splitlines()]
    assert row["label"] == "ad" and row["reasons"][0].startswith("rules p(ad)=")
    assert main(["predict", "--task", "ad", "--model", str(tmp_path / "none"), str(src), str(dst)]) == 2
    assert "model directory not found" in capsys.readouterr().err


def test_train_without_an_encoder_says_how_to_get_one(tmp_path, capsys):
    assert main(["train", "--encoder", str(tmp_path / "enc"), "--out", str(tmp_path / "o")]) == 2
    assert "scripts/build-encoder" in capsys.readouterr().err


def test_extract_writes_entities_with_offsets_intent_and_verdicts(tmp_path, capsys):
    src = tmp_path / "in.txt"
    lines = ["明晚8点线上分享，报名加微信 abc_12345", "", "电话 １３８ ００１３ ８０００，价格2999元"]
    src.write_text("\n".join(lines) + "\n", "utf-8")
    out = tmp_path / "out.jsonl"
    assert main(["extract", "--rules", "--now", "2026-11-25T21:00", str(src), str(out)]) == 0
    records = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert [r["text"] for r in records] == lines
    first, empty, third = records
    assert {(e["type"], e["text"]) for e in first["entities"]} == {("TIME", "明晚8点"), ("WECHAT", "abc_12345")}
    time = next(e for e in first["entities"] if e["type"] == "TIME")
    assert time["value"] == "2026-11-26T20:00:00+08:00"
    assert empty["entities"] == []
    for r in records:
        for e in r["entities"]:
            assert r["text"][e["start"] : e["end"]] == e["text"]
        assert set(r["verdicts"]) >= {"ad", "useful", "intent"} and r["intent"] == r["verdicts"]["intent"]["label"]
    phone = next(e for e in third["entities"] if e["type"] == "PHONE")
    assert phone["value"] == "13800138000"
    assert any(e["type"] == "MONEY" and e["value"] == "2999 CNY" for e in third["entities"])


def test_eval_refuses_fp32_with_another_precision(capsys):
    assert main(["eval", "--fp32", "--precision", "bf16"]) != 0
    assert "--fp32 and --precision bf16 disagree" in capsys.readouterr().err


# Characters str.splitlines (and universal-newline reading) takes for line ends; inside a message
# they must not split it: predict and extract read one message per "\n" (CRLF tolerated).
_NOT_LINE_ENDS = ["\u2028", "\u2029", "\x85", "\x1c", "\x1d", "\x1e", "\v", "\f", "\r"]


def _tricky_input(tmp_path):
    lines = [f"第{i}行{c}同一条消息 加V：wx_abc123" for i, c in enumerate(_NOT_LINE_ENDS)] + ["", "最后一行"]
    src = tmp_path / "in.txt"
    src.write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8"))  # a BOM and CRLF line ends
    return src, lines


@pytest.mark.parametrize(
    "command", [["predict", "--task", "ad", "--rules"], ["extract", "--rules", "--now", "2026-11-25T21:00"]]
)
def test_predict_and_extract_split_messages_on_newline_only(tmp_path, capsys, command):
    src, lines = _tricky_input(tmp_path)
    dst = tmp_path / "out.jsonl"
    assert main([*command, str(src), str(dst)]) == 0
    out = dst.read_text("utf-8")
    assert out.endswith("\n")
    rows = [json.loads(x) for x in out[:-1].split("\n")]
    assert [r["text"] for r in rows] == lines
    # and the output holds no character any reader would split a record at
    assert len(out.splitlines()) == len(lines)
    assert f"{len(lines)} lines" in capsys.readouterr().out


def test_read_lines_keeps_a_last_line_without_newline_and_an_empty_file(tmp_path):
    from bot.cli import _read_lines

    f = tmp_path / "a.txt"
    f.write_bytes("a\u2028b\n\nc\r".encode("utf-8"))
    assert _read_lines(str(f)) == ["a\u2028b", "", "c"]
    f.write_bytes(b"")
    assert _read_lines(str(f)) == []
    f.write_bytes(b"\n")
    assert _read_lines(str(f)) == [""]
