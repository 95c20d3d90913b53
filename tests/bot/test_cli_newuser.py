"""What a new user meets first on the command line: a quick ``--help``, clear errors for a group or
a database that is not there, profiles found by display name, and one place the pipeline is built.
(The demo's follow-up commands reproducing its digest: ``test_cli.test_full_demo_run``.)"""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "transformers", "matplotlib", "jieba", "sqlalchemy", "pydantic", "apscheduler", "wechaty")

SHOW_HEAVY = f"\nimport sys\nprint(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))\n"


@pytest.mark.parametrize(
    "code", ["import bot.cli", "from bot.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"]
)
def test_the_command_line_and_its_help_import_nothing_heavy(code):
    done = subprocess.run(
        [sys.executable, "-c", code + SHOW_HEAVY], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.splitlines()[-1] == "[]", done.stdout


# -- a small database: two groups, three members of whom two share a name -----------------------


def _config(tmp_path: Path, db: Path, *, configured: bool = True) -> Path:
    cfg = tmp_path / "config.toml"
    groups = '[[groups]]\nid = "g@chatroom"\nname = "测试群"\ntopic = "人工智能"\n' if configured else ""
    cfg.write_text(
        f'[database]\nurl = "sqlite:///{db}"\n[digest]\nhtml_dir = "{tmp_path / "html"}"\n'
        f"[models]\nuse = false\n[analysis]\nner = false\n{groups}",
        "utf-8",
    )
    return cfg


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A replayed day: Ethan and a 小王 in g@chatroom, another 小王 in h@chatroom."""
    d = tmp_path_factory.mktemp("stored")
    db = d / "q.db"
    cfg = _config(d, db)
    rows = []
    for i, (group, sender, name, text) in enumerate(
        [
            ("g@chatroom", "wxid_ethan", "Ethan", "请问 RAG 的召回率怎么评估？"),
            ("g@chatroom", "wxid_ethan", "Ethan", "LoRA 微调的学习率一般设多少"),
            ("g@chatroom", "wxid_wang1", "小王", "推荐一篇向量数据库的综述"),
            ("h@chatroom", "wxid_wang2", "小王", "大家周末去爬山吗"),
            ("h@chatroom", "wxid_wang2", "小王", "明天下午三点集合"),
        ]
    ):
        rows.append(
            {
                "id": f"n{i}",
                "group_id": group,
                "sender_id": sender,
                "sender_name": name,
                "time": f"2026-11-25T09:{i:02d}:00+08:00",
                "text": text,
            }
        )
    day = d / "day.jsonl"
    day.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", "utf-8")
    assert main(["--config", str(cfg), "replay", str(day)]) == 0
    return d, db, cfg


def test_a_digest_of_an_unknown_group_is_an_error_naming_the_known_ones(stored, capsys):
    _, _, cfg = stored
    capsys.readouterr()
    assert main(["digest", "--config", str(cfg), "--group", "nope@chatroom", "--date", "2026-11-25"]) == 2
    out = capsys.readouterr()
    assert "今天群里很安静" not in out.out and out.out == ""
    assert out.err.startswith("qunzhi: unknown group 'nope@chatroom'") and len(out.err.splitlines()) == 1
    assert "g@chatroom (测试群)" in out.err and "h@chatroom" in out.err


def test_a_reader_that_goes_away_ends_the_command_quietly(stored):
    """`qunzhi digest | head -1`: the pipe closes before the digest is written; no traceback."""
    _, _, cfg = stored
    cmd = [
        sys.executable,
        "-m",
        "bot.cli",
        "digest",
        "--config",
        str(cfg),
        "--group",
        "g@chatroom",
        "--date",
        "2026-11-25",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the process has written anything: its first write meets a closed pipe
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141, err
    assert "Traceback" not in err and "BrokenPipe" not in err


def test_a_digest_of_a_group_without_settings_says_so_and_names_the_config_beside_the_database(tmp_path, capsys):
    db = tmp_path / "data" / "q.db"
    db.parent.mkdir()
    beside = _config(db.parent, db)  # data/config.toml, as `qunzhi demo` writes one beside demo.db
    day = tmp_path / "day.jsonl"
    day.write_text(
        json.dumps(
            {
                "id": "a",
                "group_id": "g@chatroom",
                "sender_id": "u",
                "time": "2026-11-25T09:00:00+08:00",
                "text": "请问 RAG 怎么评估",
            },
            ensure_ascii=False,
        )
        + "\n",
        "utf-8",
    )
    cfg = _config(tmp_path, db, configured=False)
    assert main(["--config", str(cfg), "replay", str(day)]) == 0
    capsys.readouterr()
    assert main(["--config", str(cfg), "digest", "--group", "g@chatroom", "--date", "2026-11-25", "--db", str(db)]) == 0
    err = capsys.readouterr().err
    assert "g@chatroom has no [[groups]] entry" in err and f"--config {beside}" in err
    assert main(["--config", str(beside), "digest", "--group", "g@chatroom", "--date", "2026-11-25"]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    "argv",
    [
        ["digest", "--group", "g@chatroom"],
        ["profile", "Ethan"],
        ["db", "requeue"],
        ["db", "purge", "--days", "3"],
    ],
)
def test_reading_commands_never_create_a_database(tmp_path, monkeypatch, capsys, argv):
    monkeypatch.chdir(tmp_path)  # no config.toml here: the default database.url, var/qunzhi.db
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert (
        err == f"qunzhi: no database at {Path('var/qunzhi.db')} (the default database.url): give --db or --config; "
        "qunzhi replay, import, demo or run create one\n"
    )
    assert main([*argv, "--db", str(tmp_path / "other.db")]) == 2
    assert f"no database at {tmp_path / 'other.db'} (--db)" in capsys.readouterr().err
    assert not (tmp_path / "var").exists() and list(tmp_path.iterdir()) == []


def test_creating_commands_still_create_it(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["db", "upgrade"]) == 0
    assert (tmp_path / "var" / "qunzhi.db").is_file()


def test_a_profile_is_found_by_display_name_or_contact_id(stored, capsys):
    _, _, cfg = stored
    capsys.readouterr()
    assert main(["--config", str(cfg), "profile", "Ethan"]) == 0
    by_name = capsys.readouterr().out
    assert "Ethan" in by_name
    assert main(["--config", str(cfg), "profile", "wxid_ethan"]) == 0
    assert capsys.readouterr().out == by_name
    assert main(["--config", str(cfg), "profile", "ethan"]) == 0  # part of a name, case ignored: one member
    assert capsys.readouterr().out == by_name


def test_a_name_several_members_answer_to_lists_them(stored, capsys):
    _, _, cfg = stored
    capsys.readouterr()
    assert main(["--config", str(cfg), "profile", "小王"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("qunzhi: 2 members answer to '小王': ")
    assert "wxid_wang1 (小王, g@chatroom 测试群)" in err and "wxid_wang2 (小王, h@chatroom)" in err
    assert "give the contact id, or --group" in err
    assert main(["--config", str(cfg), "profile", "小王", "--group", "h@chatroom"]) == 0  # one in that group
    assert "小王" in capsys.readouterr().out
    assert main(["--config", str(cfg), "profile", "nobody"]) == 2
    assert "no profile for nobody" in capsys.readouterr().err
    assert main(["--config", str(cfg), "profile", "Ethan", "--group", "x@chatroom"]) == 2
    assert "unknown group 'x@chatroom'" in capsys.readouterr().err


# -- one composition root --------------------------------------------------------------------


def test_the_pipeline_is_assembled_in_one_place():
    """``Pipeline(...)`` is called by ``bot.wiring.build_pipeline`` only: replays, imports, the demo,
    the live bot and the benchmark all go through it."""
    callers = []
    for path in sorted([*(ROOT / "bot").rglob("*.py"), *(ROOT / "benchmarks").glob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "Pipeline":
                callers.append(path.relative_to(ROOT).as_posix())
    assert callers == ["bot/wiring.py"]
