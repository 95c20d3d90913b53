from pathlib import Path

import pytest

from bot.config import PROJECT_ROOT, ConfigError, PolicyMode, load_config


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.toml"
    p.write_text(text, "utf-8")
    return p


def test_example_config_loads_with_every_section():
    cfg = load_config(PROJECT_ROOT / "config.example.toml")
    assert cfg.bot.timezone == "Asia/Shanghai"
    assert cfg.groups[0].topic == "人工智能 大模型"
    assert cfg.moderation_for(cfg.groups[0].id).mode is PolicyMode.KICK
    assert cfg.moderation_for("unknown@chatroom").mode is PolicyMode.LOG
    assert cfg.send.jitter_seconds == (0.8, 2.5)


def test_empty_file_gives_defaults(tmp_path):
    cfg = load_config(write(tmp_path, ""))
    assert cfg.database.url.startswith("sqlite")
    assert cfg.digest.max_part_chars == 2000
    assert str(cfg.digest_timezone()) == "Asia/Shanghai"


@pytest.mark.parametrize(
    "text, key",
    [
        ("[moderation]\nad_threshold = 1.5\n", "moderation.ad_threshold"),
        ("[moderation]\nad_treshold = 0.5\n", "moderation.ad_treshold: unknown key"),
        ('[digest]\ntime = "25:00"\n', "digest.time"),
        ('[bot]\ntimezone = "Mars/Olympus"\n', "bot.timezone: unknown timezone"),
        ('[[groups]]\nid = "a"\n[groups.moderation]\nmode = "ban"\n', "groups.0.moderation.mode"),
        ('[[groups]]\nid = "a"\ndigest_delivery = "admins"\n', "groups.0: digest_delivery = 'admins' needs"),
        ('[[groups]]\nid = "a"\n[[groups]]\nid = "a"\n', "appears twice"),
        ('[database]\nurl = "mysql://x"\n', "database.url: unsupported"),
        ("[send]\njitter_seconds = [3, 1]\n", "send.jitter_seconds"),
        ("colour = 1\n", "colour: unknown key"),
        ("[models]\nuseful_threshold = 1.5\n", "models.useful_threshold"),
        ('[models]\nprecision = "int4"\n', "models.precision"),
        ('[models]\nint8 = true\nprecision = "bf16"\n', "set models.precision only"),
    ],
)
def test_bad_values_name_file_and_dotted_key(tmp_path, text, key):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_config(path)
    msg = str(e.value)
    assert str(path) in msg
    assert key in msg


def test_unreadable_and_invalid_toml(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "[bot\nname=1"))


def test_env_overrides_wechaty_endpoint(tmp_path, monkeypatch):
    cfg = load_config(write(tmp_path, '[wechaty]\nendpoint = "1.2.3.4:1"\ntoken = "t"\n'))
    assert cfg.wechaty_endpoint() == "1.2.3.4:1"
    monkeypatch.setenv("WECHATY_PUPPET_SERVICE_ENDPOINT", "127.0.0.1:9")
    assert cfg.wechaty_endpoint() == "127.0.0.1:9"


@pytest.mark.parametrize("legacy, precision", [("true", "int8"), ("false", "fp32")])
def test_the_older_int8_key_still_reads_as_a_precision(tmp_path, legacy, precision):
    assert load_config(write(tmp_path, f"[models]\nint8 = {legacy}\n")).models.precision == precision
