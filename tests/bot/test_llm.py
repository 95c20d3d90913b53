"""Topic summaries from an OpenAI-compatible endpoint (``bot.llm``, ``bot.digest.summaries``),
against a real HTTP server on 127.0.0.1 that answers in the chat-completions JSON shapes
(``/v1/chat/completions``: ``choices[0].message.content``, ``usage``, ``model``; errors as
``{"error": {...}}`` with their status and, for a 429, ``Retry-After``)."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import bot.daily
from bot.cli import DEMO_DIR, main
from bot.config import PROJECT_ROOT, ConfigError, Llm, load_config
from bot.daily import make_digest
from bot.digest.data import DigestData, MessageLine, Speaker, TopicCluster
from bot.digest.summaries import SYSTEM_PROMPT, parse, summarise
from bot.llm import ChatClient, LlmError, TokenBudget
from bot.metrics import REGISTRY
from bot.store import groups as groups_db
from bot.wiring import open_store

TZ = ZoneInfo("Asia/Shanghai")
KEY = "sk-test-9f8e7d6c5b4a39281706"
MODEL = "qwen2.5:7b-instruct"


# ------------------------------------------------------------------------------ the endpoint


@dataclass
class Reply:
    status: int = 200
    content: str = ""  # the model's answer (status 200)
    error: str = ""  # the error's message (other statuses)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    usage: tuple[int, int] | None = (150, 40)  # prompt, completion; None: the server reports none


Answer = Callable[[dict[str, Any], int], Reply]  # (request body, its number from 0) -> reply


class Endpoint:
    """An OpenAI-compatible ``/v1/chat/completions`` on 127.0.0.1, answering with ``answer``."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                n = len(endpoint.requests)
                endpoint.requests.append((self.path, dict(self.headers), body))
                if self.path != "/v1/chat/completions":
                    return self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}}, {})
                reply = endpoint.answer(body, n)
                time.sleep(reply.delay)
                if reply.status != 200:
                    payload = {"error": {"message": reply.error or "error", "type": "server_error", "code": None}}
                    return self._send(reply.status, payload, reply.headers)
                payload = {
                    "id": f"chatcmpl-{n}",
                    "object": "chat.completion",
                    "created": 1764000000,
                    "model": MODEL,
                    "system_fingerprint": "fp_ollama",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": reply.content},
                            "finish_reason": "stop",
                        }
                    ],
                }
                if reply.usage is not None:
                    p, c = reply.usage
                    payload["usage"] = {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}
                self._send(200, payload, reply.headers)

            def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str]) -> None:
                data = json.dumps(payload, ensure_ascii=False).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                    pass

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[[Answer], Endpoint]]:
    started: list[Endpoint] = []

    def start(answer: Answer) -> Endpoint:
        started.append(Endpoint(answer))
        return started[-1]

    yield start
    for e in started:
        e.close()


def numbered(body: dict[str, Any]) -> dict[int, str]:
    """The prompt's numbered messages, as the model reads them."""
    user = body["messages"][1]["content"]
    return {int(n): text for n, text in re.findall(r"^(\d+)\. (.*)$", user, re.M)}


def reader(body: dict[str, Any], n: int) -> Reply:
    """A model that reads the prompt: it cites the messages naming the topic's first key term."""
    term = re.search(r"^Topic key terms: ([^,\n]+)", body["messages"][1]["content"], re.M)
    assert term is not None
    cited = [k for k, text in numbered(body).items() if term.group(1).lower() in text.lower()] or [1]
    return Reply(
        content=json.dumps({"summary": f"大家讨论了{term.group(1)}的用法。", "sources": cited}, ensure_ascii=False)
    )


def line(i: str, text: str, sender: str = "张*") -> MessageLine:
    return MessageLine(i, sender, "10:00", text)


LORA = TopicCluster(
    name="LoRA · 学习率",
    terms=("LoRA", "学习率"),
    size=3,
    contributors=(Speaker("张*", 2), Speaker("李*", 1)),
    best=line("m2", "LoRA 的学习率一般设 1e-4 到 2e-4，rank 16 就够了"),
    messages=(
        line("m1", "LoRA 微调时学习率设多少合适？"),
        line("m2", "LoRA 的学习率一般设 1e-4 到 2e-4，rank 16 就够了"),
        line("m3", "学习率太大 loss 会震荡", sender="李*"),
    ),
)
VLLM = TopicCluster(
    name="vLLM · 部署",
    terms=("vLLM", "部署"),
    size=2,
    contributors=(Speaker("王*", 2),),
    best=line("m5", "vLLM 部署 Qwen 用 --max-model-len 8192 显存就够", sender="王*"),
    messages=(
        line("m4", "有人用 vLLM 部署过 Qwen 吗", sender="王*"),
        line("m5", "vLLM 部署 Qwen 用 --max-model-len 8192 显存就够", sender="王*"),
    ),
)


def settings(url: str, **kw: Any) -> Llm:
    return Llm(base_url=url, model=MODEL, **{"timeout_seconds": 2, "retries": 2, **kw})


def client(endpoint: Endpoint, budget: int = 100_000, **kw: Any) -> ChatClient:
    return ChatClient(settings(endpoint.url, **kw), TokenBudget(budget, TZ), api_key=KEY, backoff_seconds=0.01)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# ------------------------------------------------------------------------------ summaries


def test_a_faithful_summary_is_attached_with_its_sources_and_the_model(serve) -> None:
    endpoint = serve(reader)
    before = {k: sample("qunzhi_llm_tokens_total", kind=k) for k in ("prompt", "completion")}
    attached = sample("qunzhi_llm_summaries_total", outcome="attached")
    with client(endpoint) as c:
        out = summarise((LORA, VLLM), "人工智能", c)
    assert [c.summary.sources if c.summary else None for c in out] == [("m1", "m2"), ("m4", "m5")]
    assert out[0].summary is not None and out[0].summary.text == "大家讨论了LoRA的用法。"
    assert out[0].summary.model == MODEL
    assert (out[0].name, out[0].messages) == (LORA.name, LORA.messages)  # only the summary is new
    # what went out: the masked texts, numbered; no names, no ids; the key in the header only
    path, headers, body = endpoint.requests[0]
    assert path == "/v1/chat/completions" and headers["Authorization"] == f"Bearer {KEY}"
    assert body["model"] == MODEL and body["messages"][0] == {"role": "system", "content": SYSTEM_PROMPT}
    assert numbered(body) == {1: LORA.messages[0].text, 2: LORA.messages[1].text, 3: LORA.messages[2].text}
    user = body["messages"][1]["content"]
    assert "人工智能" in user and "张*" not in user and "李*" not in user and "m1" not in user
    assert sample("qunzhi_llm_tokens_total", kind="prompt") - before["prompt"] == 300
    assert sample("qunzhi_llm_tokens_total", kind="completion") - before["completion"] == 80
    assert sample("qunzhi_llm_summaries_total", outcome="attached") - attached == 2


@pytest.mark.parametrize(
    "answer, why",
    [
        ('{"summary": "大家讨论了学习率。", "sources": [2, 7]}', "cites 7"),  # no message 7
        ('{"summary": "大家讨论了学习率。", "sources": ["m2"]}', "cites 'm2'"),  # an id, not a number
        ('{"summary": "大家讨论了学习率。", "sources": []}', "cites no message"),
        ('{"summary": "大家讨论了学习率。"}', "cites no message"),
        ('{"summary": "", "sources": [1]}', "empty"),
        ('{"summary": "' + "很长" * 70 + '", "sources": [1]}', "not one sentence"),
        ('{"summary": "大家讨论了学习率。", "sources": [1]', "not a JSON object"),  # cut off
        ("大家讨论了学习率。", "not a JSON object"),
    ],
)
def test_a_summary_that_cites_what_is_not_there_or_is_not_valid_is_dropped(serve, caplog, answer, why) -> None:
    endpoint = serve(lambda body, n: Reply(content=answer) if n == 0 else reader(body, n))
    dropped = sample("qunzhi_llm_summaries_total", outcome="dropped")
    with caplog.at_level(logging.WARNING, logger="bot.digest.summaries"), client(endpoint) as c:
        out = summarise((LORA, VLLM), "人工智能", c)
    assert out[0] == LORA  # as it was
    assert out[1].summary is not None and out[1].summary.sources == ("m4", "m5")  # the next topic still asked
    assert [r.getMessage() for r in caplog.records if why in r.getMessage() and LORA.name in r.getMessage()]
    assert sample("qunzhi_llm_summaries_total", outcome="dropped") - dropped == 1


def test_a_reasoning_models_thinking_and_code_fences_are_read_past() -> None:
    answer = '<think>用户要一句话 {"summary": "x"}</think>\n```json\n{"summary": "学习率设 1e-4 左右。", "sources": ["2"]}\n```'
    assert parse(answer, LORA.messages) == ("学习率设 1e-4 左右。", ("m2",))


def test_the_summary_is_masked_like_every_line() -> None:
    text, _ = parse('{"summary": "联系 13812345678 报名。", "sources": [1]}', LORA.messages)
    assert "13812345678" not in text


def test_only_the_biggest_topics_up_to_max_topics_are_asked(serve) -> None:
    endpoint = serve(reader)
    with client(endpoint) as c:
        out = summarise((LORA, VLLM), "人工智能", c, max_topics=1)
    assert out[0].summary is not None and out[1].summary is None and len(endpoint.requests) == 1


# ------------------------------------------------------------------------------ bounds: time, errors, cost


def test_a_timeout_gives_no_summary_and_stops_the_asking(serve, caplog) -> None:
    endpoint = serve(lambda body, n: Reply(content="{}", delay=1.0))
    failures = sample("qunzhi_llm_failures_total", reason="timeout")
    started = time.monotonic()
    with caplog.at_level(logging.WARNING), client(endpoint, timeout_seconds=0.3) as c:
        out = summarise((LORA, VLLM), "人工智能", c)
    assert out == (LORA, VLLM)
    assert len(endpoint.requests) == 1  # not retried, and the next topic not asked
    assert time.monotonic() - started < 0.9
    assert sample("qunzhi_llm_failures_total", reason="timeout") - failures == 1
    assert any("no answer within 0.3s" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("status", [500, 503, 429])
def test_a_busy_or_failing_server_is_tried_again_a_bounded_number_of_times(serve, status) -> None:
    headers = {"Retry-After": "0"} if status == 429 else {}
    flaky = serve(lambda body, n: Reply(status, error="busy", headers=headers) if n < 2 else reader(body, n))
    with client(flaky, retries=2) as c:
        out = summarise((LORA,), "人工智能", c)
    assert out[0].summary is not None and len(flaky.requests) == 3  # two failures, then the answer

    down = serve(lambda body, n: Reply(status, error="busy", headers=headers))
    with client(down, retries=2) as c:
        out = summarise((LORA, VLLM), "人工智能", c)
    assert out == (LORA, VLLM) and len(down.requests) == 3  # 1 + retries, and the next topic not asked


def test_retry_after_is_honoured_up_to_the_timeout(serve) -> None:
    answer = Reply(content='{"summary": "学习率设 1e-4。", "sources": [1]}')
    endpoint = serve(lambda body, n: Reply(429, headers={"Retry-After": "0.5"}) if n == 0 else answer)
    started = time.monotonic()
    with client(endpoint, retries=1) as c:
        c.complete("s", "1. LoRA")
    assert 0.5 <= time.monotonic() - started < 1.5


def test_a_refused_connection_is_retried_then_given_up(serve) -> None:
    endpoint = serve(reader)
    endpoint.close()  # nothing listens on the port any more
    with client(endpoint, retries=1) as c, pytest.raises(LlmError) as e:
        c.complete("s", "u")
    assert e.value.reason == "connect" and e.value.unavailable


def test_the_daily_budget_stops_further_calls_and_says_so_once(serve, caplog) -> None:
    endpoint = serve(lambda body, n: Reply(content=reader(body, n).content, usage=(1300, 50)))
    today = [date(2026, 11, 25)]
    budget = TokenBudget(1400, TZ, today=lambda: today[0])
    with caplog.at_level(logging.WARNING, logger="bot.llm"):
        with ChatClient(settings(endpoint.url, max_tokens=100), budget, api_key=KEY) as c:
            out = summarise((LORA, VLLM, LORA), "人工智能", c)
            assert [x.summary is not None for x in out] == [True, False, False]
            assert len(endpoint.requests) == 1 and budget.left() == 50  # 1350 spent as the server counted
            with pytest.raises(LlmError) as e:
                c.complete("s", "u")
            assert e.value.reason == "budget" and len(endpoint.requests) == 1
            today[0] = date(2026, 11, 26)  # a new local day: a new budget
            assert summarise((VLLM,), "人工智能", c)[0].summary is not None
    assert len([r for r in caplog.records if "budget spent" in r.getMessage()]) == 1


def test_without_usage_the_worst_case_is_counted(serve) -> None:
    endpoint = serve(lambda body, n: Reply(content='{"summary": "x。", "sources": [1]}', usage=None))
    budget = TokenBudget(10_000, TZ)
    with ChatClient(settings(endpoint.url, max_tokens=100), budget) as c:
        c.complete("system", "user")
    assert budget.left() == 10_000 - (len("system") + len("user") + 32 + 100)


def test_the_key_never_reaches_a_log_line_or_an_error(serve, caplog) -> None:
    echo = f"Incorrect API key provided: {KEY}"
    endpoint = serve(lambda body, n: Reply(401 if n == 0 else 500, error=echo))
    with caplog.at_level(logging.DEBUG):  # every logger, httpx's and httpcore's too
        with client(endpoint, retries=0) as c:
            with pytest.raises(LlmError) as refused:
                c.complete("s", "u")
            with pytest.raises(LlmError) as failed:
                c.complete("s", "u")
    assert refused.value.reason == "refused" and "api_key_env" in str(refused.value)
    assert "[key]" in str(failed.value)  # the server's words kept, the key taken out
    logged = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    assert "HTTP 401" in logged and "HTTP 500" in logged
    for text in (logged, str(refused.value), str(failed.value)):
        assert KEY not in text and KEY[8:] not in text


# ------------------------------------------------------------------------------ configuration


def load(tmp_path: Path, table: str) -> Any:
    p = tmp_path / "config.toml"
    p.write_text(table, "utf-8")
    return load_config(p)


def test_without_an_llm_table_nothing_is_asked(tmp_path) -> None:
    assert load(tmp_path, "").llm is None


def test_an_llm_table_reads_with_its_defaults(tmp_path, monkeypatch) -> None:
    cfg = load(
        tmp_path, '[llm]\nbase_url = "http://127.0.0.1:11434/v1/"\nmodel = "qwen2.5:7b"\napi_key_env = "QZ_LLM_KEY"\n'
    )
    assert cfg.llm.base_url == "http://127.0.0.1:11434/v1" and cfg.llm.enabled
    assert (cfg.llm.max_topics, cfg.llm.retries) == (5, 2)
    monkeypatch.delenv("QZ_LLM_KEY", raising=False)
    with pytest.raises(ConfigError, match="QZ_LLM_KEY is not set"):
        cfg.llm.api_key()
    monkeypatch.setenv("QZ_LLM_KEY", KEY)
    assert cfg.llm.api_key() == KEY


@pytest.mark.parametrize(
    "table, message",
    [
        ('model = "m"', "llm.base_url: Field required"),
        ('base_url = "http://h/v1"', "llm.model: Field required"),
        ('base_url = "127.0.0.1:8000/v1"\nmodel = "m"', "llm.base_url: must be an http:// or https:// URL"),
        ('base_url = "http://h/v1/chat/completions"\nmodel = "m"', "llm.base_url: name the /v1 base URL only"),
        (f'base_url = "http://h/v1"\nmodel = "m"\napi_key = "{KEY}"', "llm: never put the API key in the file"),
        (f'base_url = "http://h/v1"\nmodel = "m"\napi_key_env = "{KEY}"', "llm.api_key_env: must be the name"),
        ('base_url = "http://h/v1"\nmodel = "m"\ntimeout_seconds = 0', "llm.timeout_seconds"),
        ('base_url = "http://h/v1"\nmodel = "m"\nmax_topics = 0', "llm.max_topics"),
        ('base_url = "http://h/v1"\nmodel = "m"\ndaily_token_budget = 0', "llm.daily_token_budget"),
        ('base_url = "http://h/v1"\nmodel = "m"\nmax_token = 100', "llm.max_token: unknown key"),
    ],
)
def test_a_bad_llm_table_names_the_key_and_never_shows_a_key(tmp_path, table, message) -> None:
    with pytest.raises(ConfigError) as e:
        load(tmp_path, "[llm]\n" + table + "\n")
    assert message in str(e.value) and KEY not in str(e.value)


# ------------------------------------------------------------------------------ through make_digest

DEMO_GROUP = "ai-dev-2026@chatroom"
DEMO_DAY = date(2026, 11, 25)


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory) -> Path:
    """The sample day replayed with the rule analyzers; the config without [llm]."""
    tmp = tmp_path_factory.mktemp("llm")
    cfg = tmp / "demo.toml"
    cfg.write_text(
        (DEMO_DIR / "demo.toml").read_text("utf-8")
        + f'\n[database]\nurl = "sqlite:///{tmp / "d.db"}"\n[models]\nuse = false\n',
        "utf-8",
    )
    assert main(["--config", str(cfg), "replay", str(DEMO_DIR / "sample_day.jsonl")]) == 0
    return cfg


def digest_with(demo_db: Path, endpoint: Endpoint, monkeypatch, **llm: Any) -> Any:
    monkeypatch.setenv("QZ_TEST_LLM_KEY", KEY)
    extra = "".join(f"{k} = {json.dumps(v)}\n" for k, v in llm.items())
    cfg = demo_db.with_name("with-llm.toml")
    cfg.write_text(
        demo_db.read_text("utf-8")
        + f'\n[llm]\nbase_url = "{endpoint.url}"\nmodel = "{MODEL}"\napi_key_env = "QZ_TEST_LLM_KEY"\n{extra}',
        "utf-8",
    )
    config = load_config(cfg)
    store = open_store(config)
    try:
        return make_digest(store.sessions, config, DEMO_GROUP, DEMO_DAY, save=False)
    finally:
        store.close()


@pytest.fixture
def clustered(monkeypatch) -> None:
    """Until the builder clusters the demo day itself: its first thread's lines as one topic (lines
    the builder made and verify passes, so only the summary is new)."""
    real = bot.daily.build_digest

    def build(*args: Any, **kw: Any) -> DigestData:
        d = real(*args, **kw)
        if d.clusters:
            return d
        t = d.threads[0]
        lines = (t.root, *t.replies)
        term = next(w for w in re.findall(r"[A-Za-z]{3,}", t.root.text))
        topic = TopicCluster(term, (term,), len(lines), (), t.best or t.root, lines)
        return dataclasses.replace(d, clusters=(topic,))

    monkeypatch.setattr(bot.daily, "build_digest", build)


def test_make_digest_attaches_summaries_and_still_renders_when_the_endpoint_times_out(
    demo_db, serve, monkeypatch, clustered, caplog
) -> None:
    good = serve(reader)
    with caplog.at_level(logging.ERROR, logger="bot.digest.verify"):
        r = digest_with(demo_db, good, monkeypatch, max_topics=2)
    assert not [x for x in caplog.records if x.name == "bot.digest.verify"]  # nothing dropped by the check
    summarised = [c for c in r.data.clusters if c.summary is not None]
    assert summarised and len(good.requests) == min(2, len(r.data.clusters))
    for c in summarised:
        assert c.summary is not None and set(c.summary.sources) <= {m.id for m in c.messages}

    slow = serve(lambda body, n: Reply(content="{}", delay=1.0))
    r = digest_with(demo_db, slow, monkeypatch, timeout_seconds=0.3)
    assert r.text_parts and r.html and r.data.clusters and all(c.summary is None for c in r.data.clusters)
    assert len(slow.requests) == 1


def test_a_summary_naming_a_member_who_opted_out_is_dropped_by_the_quote_check(
    demo_db, serve, monkeypatch, clustered, caplog
) -> None:
    awen = "wxid_t8u2ho6c"  # 杭州-阿里-阿文, who answers in the demo day's threads
    said = '{"summary": "@杭州-阿里-阿文 建议学习率设 1e-4。", "sources": [1]}'
    endpoint = serve(lambda body, n: Reply(content=said))
    store = open_store(load_config(demo_db))
    with store.sessions.begin() as s:
        groups_db.set_opted_out(s, DEMO_GROUP, awen)
    try:
        with caplog.at_level(logging.ERROR, logger="bot.digest.verify"):
            r = digest_with(demo_db, endpoint, monkeypatch, max_topics=1)
    finally:
        with store.sessions.begin() as s:
            groups_db.set_opted_out(s, DEMO_GROUP, awen, False)
        store.close()
    assert endpoint.requests and r.data.clusters[0].summary is None
    assert any("opted out" in x.getMessage() for x in caplog.records if x.name == "bot.digest.verify")
    assert "杭州-阿里-阿文" not in "\n".join(r.text_parts) + r.html


def test_the_example_configs_llm_block_loads_when_uncommented(tmp_path) -> None:
    text = (PROJECT_ROOT / "config.example.toml").read_text("utf-8")
    block = re.search(r"^# \[llm\]\n((?:# .*\n)+)", text, re.M)
    assert block is not None
    cfg = load(tmp_path, "[llm]\n" + "".join(x[2:] for x in block.group(1).splitlines(True)))
    assert cfg.llm is not None and cfg.llm.base_url == "http://127.0.0.1:11434/v1" and cfg.llm.api_key() == ""


def test_a_request_under_way_holds_its_worst_case_until_it_is_over() -> None:
    budget = TokenBudget(1000, TZ)
    assert budget.reserve(600) and budget.left() == 400
    assert not budget.reserve(500)  # another digest's request, at the same time
    budget.spend(250)
    budget.release(600)
    assert budget.left() == 750 and budget.reserve(500)
