"""Export formats and [[sources]]: detection of every registered format from its sample, the
registry's rules, ``qunzhi import`` on real files (idempotent), and the config's [[sources]] errors."""

import importlib.util
import json
import sqlite3
from pathlib import Path

import pytest

from bot.adapters import formats
from bot.adapters.errors import ImportFormatError, ReadResult
from bot.cli import build_parser, main
from bot.config import ConfigError, load_config

SAMPLES = Path(__file__).parent / "adapters" / "samples"
HEADER = "localId,TalkerId,Type,SubType,IsSender,CreateTime,Status,StrContent,StrTime,Remark,NickName,Sender"


def memotrace_csv(path: Path, rows: list[str]) -> Path:
    path.write_bytes(("\ufeff" + "\r\n".join([HEADER, *rows]) + "\r\n").encode("utf-8"))
    return path


ROWS = [
    "1,g@chatroom,1,0,0,1764032400,2,大家好，今天分享一篇大模型论文,2025-11-25 09:00:00,,阿杰,wxid_a",
    "2,g@chatroom,1,0,0,not-a-time,2,坏行,2025-11-25 09:01:00,,阿杰,wxid_a",
    "3,g@chatroom,47,0,0,1764032500,2,<msg/>,2025-11-25 09:02:00,,小王,wxid_b",
]


def is_twin(path: Path) -> bool:
    """A JSON Lines twin (the GroupMessages a reader must produce), not an export."""
    if path.suffix != ".jsonl":
        return False
    first = json.loads(path.read_text("utf-8").splitlines()[0])
    return {"id", "source", "group_id"} <= set(first)


def sample_files(name: str) -> list[Path]:
    """The sample exports of format ``name`` (files and chunked folders; not the JSON Lines twins)."""
    return sorted(p for p in SAMPLES.glob(f"{name}*") if p.is_dir() or not is_twin(p))


def write_config(tmp_path: Path, extra: str = "") -> Path:
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path / "q.db"}"\n[models]\nuse = false\n'
        '[[groups]]\nid = "g@chatroom"\nname = "测试群"\ntopic = "人工智能"\n' + extra,
        "utf-8",
    )
    return cfg


# -- the registry -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", formats.PRIORITY)
def test_every_registered_format_detects_its_own_sample(name, tmp_path):
    if importlib.util.find_spec(formats._MODULES[name]) is None:
        pytest.skip(f"{formats._MODULES[name]} is not there yet")
    assert name in formats.formats(), f"{formats._MODULES[name]} has no FORMAT"
    found = sample_files(name)
    if name == "memotrace" and not found:
        found = [memotrace_csv(tmp_path / "群聊_utf8.csv", ROWS)]
    if not found:
        pytest.skip(f"no sample export for {name} in {SAMPLES}")
    for sample in found:
        assert formats.detect(sample).name == name, sample


def test_a_file_no_format_knows_is_an_error_naming_the_formats_and_format_option(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("周末去爬山吗？\n", "utf-8")
    with pytest.raises(ImportFormatError) as e:
        formats.detect(f)
    text = str(e.value)
    assert str(f) in text and "--format" in text and "memotrace" in text
    with pytest.raises(ImportFormatError, match="folder"):
        formats.detect(tmp_path)
    with pytest.raises(ImportFormatError, match="unknown export format 'csv'"):
        formats.get_format("csv")


class Claims:
    def __init__(self, name: str, breaks: bool = False) -> None:
        self.name, self.description, self.breaks = name, f"{name} test format", breaks

    def sniff(self, path: Path, head: bytes) -> bool:
        if self.breaks:
            raise ValueError("odd bytes")
        return head.startswith(b"{")

    def read(self, path: Path, *, group_id=None, self_id=None) -> ReadResult:  # noqa: ANN001
        return ReadResult()


def test_when_two_formats_claim_a_file_the_first_by_priority_wins(tmp_path, monkeypatch):
    f = tmp_path / "x.json"
    f.write_bytes(b"{}" + b" " * (200 * 1024))
    order = {"broken": Claims("broken", breaks=True), "first": Claims("first"), "second": Claims("second")}
    monkeypatch.setattr(formats, "formats", lambda: order)
    assert formats.detect(f).name == "first"  # a sniff that raises is "not mine", never a crash


def test_the_registry_keeps_the_documented_priority():
    present = list(formats.formats())
    assert present == [n for n in formats.PRIORITY if n in present]
    assert "memotrace" in present
    import_parser = build_parser()._subparsers._group_actions[0].choices["import"]  # type: ignore[union-attr]
    (choice,) = [a for a in import_parser._actions if a.dest == "format"]
    assert sorted(choice.choices) == sorted(["auto", *formats.PRIORITY])  # --format offers every format


@pytest.mark.parametrize("argv", [["import"], ["sync"]])
def test_import_and_sync_have_help(argv, capsys):
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args([*argv, "--help"])
    assert e.value.code == 0 and "usage: qunzhi" in capsys.readouterr().out


# -- qunzhi import --------------------------------------------------------------------------------


def test_import_detects_reads_and_is_idempotent_per_file(tmp_path, capsys):
    cfg = write_config(tmp_path)
    csv = memotrace_csv(tmp_path / "chat.csv", ROWS)
    other = memotrace_csv(tmp_path / "other.csv", [ROWS[0].replace("1,g@", "9,g@", 1)])
    assert main(["--config", str(cfg), "import", str(csv), str(other)]) == 0
    out = capsys.readouterr()
    assert f"import {csv} (memotrace): 2 messages read, 1 malformed rows skipped; 2 stored" in out.out
    assert f"import {other} (memotrace): 1 messages read, 0 malformed rows skipped; 1 stored" in out.out
    assert f"{csv}:3:" in out.err and "CreateTime" in out.err
    assert main(["--config", str(cfg), "import", "--format", "memotrace", str(csv)]) == 0
    assert "0 stored, 2 already stored" in capsys.readouterr().out
    with sqlite3.connect(tmp_path / "q.db") as db:
        assert db.execute("select count(*) from messages").fetchone() == (3,)
        assert db.execute("select count(*) from moderation_actions where dry_run = 0").fetchone() == (0,)


def test_an_unreadable_file_is_named_and_the_others_are_imported(tmp_path, capsys):
    cfg = write_config(tmp_path)
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01not an export")
    csv = memotrace_csv(tmp_path / "chat.csv", ROWS)
    assert main(["--config", str(cfg), "import", str(junk), str(tmp_path / "gone.json"), str(csv)]) == 2
    out = capsys.readouterr()
    assert f"qunzhi: {junk}: not a known export format" in out.err and "--format" in out.err
    assert "gone.json: cannot read" in out.err
    assert "2 stored" in out.out


@pytest.mark.parametrize("name", [n for n in formats.PRIORITY if n != "memotrace"])
def test_import_of_each_sample_export_stores_it_once(name, tmp_path, capsys):
    if name not in formats.formats() or not sample_files(name):
        pytest.skip(f"no {name} reader or sample yet")
    cfg = write_config(tmp_path)
    sample = sample_files(name)[0]
    assert main(["--config", str(cfg), "import", str(sample)]) == 0
    first = capsys.readouterr().out
    assert f"({name}):" in first and " 0 stored" not in first
    assert main(["--config", str(cfg), "import", str(sample)]) == 0
    assert " 0 stored," in capsys.readouterr().out


# -- [[sources]] in the config --------------------------------------------------------------------


def config_error(tmp_path: Path, body: str) -> str:
    f = tmp_path / "sources.toml"
    f.write_text(body, "utf-8")
    with pytest.raises(ConfigError) as e:
        load_config(f)
    return str(e.value)


def test_a_config_with_sources_validates(tmp_path):
    f = tmp_path / "ok.toml"
    f.write_text(
        '[[sources]]\nkind = "folder"\nname = "exports"\npath = "/srv/exports"\n'
        '[[sources]]\nkind = "chatlog"\nname = "pc"\ntalkers = ["1@chatroom"]\nevery_minutes = 2\n',
        "utf-8",
    )
    config = load_config(f)
    assert [(s.kind, s.name) for s in config.sources] == [("folder", "exports"), ("chatlog", "pc")]


def test_sources_errors_are_clear(tmp_path):
    twice = config_error(
        tmp_path,
        '[[sources]]\nkind = "folder"\nname = "a"\npath = "x"\n[[sources]]\nkind = "folder"\nname = "a"\npath = "y"\n',
    )
    assert "source name 'a' appears twice in [[sources]]" in twice
    unknown = config_error(tmp_path, '[[sources]]\nkind = "telegram"\nname = "t"\n')
    assert "sources.0" in unknown and "chatlog" in unknown and "folder" in unknown and "wecom" in unknown
    missing = config_error(tmp_path, '[[sources]]\nkind = "folder"\nname = "f"\n')
    assert "sources.0.folder.path" in missing and "Field required" in missing
    wecom = config_error(tmp_path, '[[sources]]\nkind = "wecom"\nname = "w"\n')
    assert "corp_id" in wecom and "private_keys" in wecom
    typo = config_error(tmp_path, '[[sources]]\nkind = "folder"\nname = "f"\npath = "x"\nevery_minute = 3\n')
    assert "every_minute: unknown key (typo?)" in typo


def test_run_without_a_wechaty_endpoint_points_to_sync(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("WECHATY_PUPPET_SERVICE_ENDPOINT", raising=False)
    cfg = write_config(tmp_path, f'[[sources]]\nkind = "folder"\nname = "f"\npath = "{tmp_path}"\n')
    assert main(["--config", str(cfg), "run"]) == 2
    assert "qunzhi sync" in capsys.readouterr().err
