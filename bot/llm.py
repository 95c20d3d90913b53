"""A small client for an OpenAI-compatible chat-completions endpoint (``[llm]``): a local vLLM or
Ollama, or a hosted one. One job: send a system and a user message, get the answer's text back.

``POST {base_url}/chat/completions`` with JSON over httpx, no SDK. What is bounded, and how:

- time: ``timeout_seconds`` per request; a timeout is not retried (the next try would wait as long);
- errors: a 429, a 5xx or a dropped connection is tried again at most ``retries`` times, after a
  backoff that doubles (a ``Retry-After`` the server sends is honoured, up to ``timeout_seconds``);
  every failure is logged with its reason and counted (``qunzhi_llm_failures``);
- cost: a :class:`TokenBudget` per local day and process. A request goes out only when its worst
  case (its characters, taken as tokens, plus ``max_tokens``) fits what is left; what it used is
  read from the answer's ``usage`` (the worst case when the server reports none, or timed out).

The API key comes from the environment variable ``api_key_env`` names and goes into the
``Authorization`` header only: never into a log line, an error or a metric label (a server's error
body is logged only with the key taken out, and never for a 401 or 403).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from types import TracebackType
from typing import Any, Self
from zoneinfo import ZoneInfo

import httpx

from bot.config import Config, Llm
from bot.metrics import LLM_FAILURES, LLM_REQUESTS, LLM_TOKENS

log = logging.getLogger(__name__)

MESSAGE_OVERHEAD_TOKENS = 16  # the chat template's tokens around each message, counted in the worst case
ERROR_EXCERPT_CHARS = 200


class LlmError(Exception):
    """A request that got no usable answer. ``reason`` is a metric label; ``unavailable``: asking
    again for another topic now would fail the same way (the endpoint is down, slow, refuses the
    key, or the budget is spent), so the caller stops asking for this digest."""

    def __init__(self, message: str, *, reason: str, unavailable: bool) -> None:
        super().__init__(message)
        self.reason = reason
        self.unavailable = unavailable


@dataclass(frozen=True, slots=True)
class Completion:
    text: str  # the answer's content
    model: str  # the model as the endpoint named it in its answer (else the configured name)
    prompt_tokens: int
    completion_tokens: int


class TokenBudget:
    """Tokens per local day, shared by every request of one process (thread-safe)."""

    def __init__(self, per_day: int, tz: ZoneInfo, today: Callable[[], date] | None = None) -> None:
        self.per_day = per_day
        self._today = today or (lambda: datetime.now(tz).date())
        self._lock = threading.Lock()
        self._day: date | None = None
        self._spent = 0
        self._held = 0  # worst cases of the requests under way
        self._told = False  # "spent" logged once a day

    def _roll(self) -> None:
        today = self._today()
        if today != self._day:
            self._day, self._spent, self._told = today, 0, False

    def left(self) -> int:
        with self._lock:
            self._roll()
            return max(0, self.per_day - self._spent - self._held)

    def reserve(self, worst_case: int) -> bool:
        """Hold ``worst_case`` tokens when they fit what is left today (True); :meth:`release`
        them when the request is over, :meth:`spend` what it used."""
        with self._lock:
            self._roll()
            if self._spent + self._held + worst_case <= self.per_day:
                self._held += worst_case
                return True
            if not self._told:
                self._told = True
                log.warning(
                    "llm: daily token budget spent (%d of %d used; a request needs up to %d): nothing more is asked today",
                    self._spent,
                    self.per_day,
                    worst_case,
                )
            return False

    def release(self, worst_case: int) -> None:
        with self._lock:
            self._held = max(0, self._held - worst_case)

    def spend(self, tokens: int) -> None:
        with self._lock:
            self._roll()
            self._spent += max(0, tokens)


_BUDGETS: dict[tuple[int, str], TokenBudget] = {}
_BUDGETS_LOCK = threading.Lock()


def process_budget(settings: Llm, tz: ZoneInfo) -> TokenBudget:
    """The budget every digest of this process shares (one per budget size and timezone)."""
    key = (settings.daily_token_budget, str(tz))
    with _BUDGETS_LOCK:
        if key not in _BUDGETS:
            _BUDGETS[key] = TokenBudget(settings.daily_token_budget, tz)
        return _BUDGETS[key]


class ChatClient:
    """One endpoint, one model. Use as a context manager (or call :meth:`close`)."""

    def __init__(
        self,
        settings: Llm,
        budget: TokenBudget,
        *,
        api_key: str = "",
        transport: httpx.BaseTransport | None = None,
        backoff_seconds: float = 1.0,
    ) -> None:
        self.settings = settings
        self.budget = budget
        self._key = api_key
        self._backoff = backoff_seconds
        headers = {"Content-Type": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.Client(
            base_url=settings.base_url, timeout=settings.timeout_seconds, headers=headers, transport=transport
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def complete(self, system: str, user: str) -> Completion:
        """The model's answer to ``user`` under ``system``, asked for as a JSON object.
        :class:`LlmError` when no usable answer came (after the retries a failure allows)."""
        worst = len(system) + len(user) + 2 * MESSAGE_OVERHEAD_TOKENS + self.settings.max_tokens
        if not self.budget.reserve(worst):
            LLM_FAILURES.labels("budget").inc()
            raise LlmError("daily token budget spent", reason="budget", unavailable=True)
        body = {
            "model": self.settings.model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
            "max_tokens": self.settings.max_tokens,
            "temperature": 0.2,
            "response_format": {"type": "json_object"},
            "stream": False,
        }
        try:
            return self._tries(body, worst)
        finally:
            self.budget.release(worst)

    def _tries(self, body: dict[str, Any], worst: int) -> Completion:
        tries = 1 + self.settings.retries
        for attempt in range(1, tries + 1):
            try:
                return self._once(body, worst)
            except _Retry as e:
                LLM_FAILURES.labels(e.reason).inc()
                if attempt == tries:
                    log.warning("llm: %s; gave up after %d tries", e, tries)
                    raise LlmError(str(e), reason=e.reason, unavailable=True) from None
                pause = self._backoff * 2 ** (attempt - 1)
                if e.retry_after is not None:
                    pause = max(pause, e.retry_after)
                pause = min(pause, self.settings.timeout_seconds)
                log.info("llm: %s; try %d of %d in %.1fs", e, attempt + 1, tries, pause)
                time.sleep(pause)
            except LlmError as e:
                LLM_FAILURES.labels(e.reason).inc()
                log.warning("llm: %s", e)
                raise
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _once(self, body: dict[str, Any], worst: int) -> Completion:
        where = f"{self.settings.base_url}/chat/completions"
        LLM_REQUESTS.inc()
        try:
            response = self._http.post("/chat/completions", json=body)
        except httpx.TimeoutException:
            self.budget.spend(worst)  # the server may still be working (and billing) on it
            raise LlmError(
                f"{where}: no answer within {self.settings.timeout_seconds:g}s", reason="timeout", unavailable=True
            ) from None
        except httpx.TransportError as e:
            raise _Retry(f"{where}: cannot connect ({type(e).__name__})", "connect") from None
        status = response.status_code
        if status == 429 or status >= 500:
            retry_after = _seconds(response.headers.get("Retry-After"))
            reason = "rate_limited" if status == 429 else "server"
            raise _Retry(f"{where}: HTTP {status}{self._excerpt(response)}", reason, retry_after)
        if status in (401, 403):
            raise LlmError(
                f"{where}: HTTP {status}: the endpoint refused the key (check llm.api_key_env)",
                reason="refused",
                unavailable=True,
            )
        if status >= 400:  # 404: wrong URL or model, for every topic alike; 400: maybe this prompt only
            raise LlmError(
                f"{where}: HTTP {status}{self._excerpt(response)}", reason="refused", unavailable=status != 400
            )
        return self._answer(where, response, worst)

    def _answer(self, where: str, response: httpx.Response, worst: int) -> Completion:
        try:
            payload = response.json()
        except ValueError:
            self.budget.spend(worst)
            raise LlmError(f"{where}: the answer is not JSON", reason="bad_answer", unavailable=True) from None
        usage = payload.get("usage") if isinstance(payload, dict) else None
        prompt, completion = _tokens(usage)
        if prompt is None or completion is None:
            self.budget.spend(worst)
            log.info("llm: %s reported no usage; counted the worst case, %d tokens", where, worst)
        else:
            self.budget.spend(prompt + completion)
            LLM_TOKENS.labels("prompt").inc(prompt)
            LLM_TOKENS.labels("completion").inc(completion)
        try:
            content = payload["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise LlmError(
                f"{where}: the answer has no choices[0].message", reason="bad_answer", unavailable=False
            ) from None
        if not isinstance(content, str) or not content.strip():
            raise LlmError(f"{where}: the answer's content is empty", reason="bad_answer", unavailable=False)
        model = payload.get("model")
        return Completion(
            text=content,
            model=model if isinstance(model, str) and model else self.settings.model,
            prompt_tokens=prompt or 0,
            completion_tokens=completion or 0,
        )

    def _excerpt(self, response: httpx.Response) -> str:
        """``: <the error body's start>``, the key taken out ('' when the body is empty)."""
        text = response.text.strip()
        if self._key:
            text = text.replace(self._key, "[key]")
        text = " ".join(text.split())[:ERROR_EXCERPT_CHARS]
        return f": {text}" if text else ""


class _Retry(Exception):
    """A failure worth another try (429, 5xx, a dropped connection)."""

    def __init__(self, message: str, reason: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.retry_after = retry_after


def _seconds(value: str | None) -> float | None:
    """A ``Retry-After`` in seconds (an HTTP date is ignored: the backoff applies)."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _tokens(usage: object) -> tuple[int | None, int | None]:
    if not isinstance(usage, dict):
        return None, None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    ok = all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in (prompt, completion))
    return (prompt, completion) if ok else (None, None)


def client_for(config: Config, **kwargs: Any) -> ChatClient:
    """The configured endpoint's client, sharing the process's budget. ``config.llm`` must be set;
    :class:`bot.config.ConfigError` when ``api_key_env`` names a variable that is not set."""
    settings = config.llm
    if settings is None:
        raise ValueError("no [llm] table in the config")
    return ChatClient(
        settings, process_budget(settings, config.digest_timezone()), api_key=settings.api_key(), **kwargs
    )
