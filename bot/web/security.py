"""Secrets of the console: password hashing (argon2id), random tokens, and the login rate limit."""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_HASHER = PasswordHasher()  # argon2id with the library's (RFC 9106 low-memory) parameters
MIN_PASSWORD_CHARS = 8


class WeakPassword(ValueError):
    """A password too short to be worth hashing."""


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise WeakPassword(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches; never raises for a wrong password or a damaged hash."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# A hash to verify against when the name is unknown, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


def burn_time(password: str) -> None:
    verify_password(_DUMMY_HASH, password)


def new_secret() -> str:
    """256 random bits, URL-safe: a session id, a CSRF token, an API token."""
    return secrets.token_urlsafe(32)


def new_password() -> str:
    """A password for a user nobody chose one for (the demo's console login)."""
    return secrets.token_urlsafe(12)


class LoginLimiter:
    """At most ``attempts`` failed logins per key (name and client address, each on its own) in a
    sliding ``window_s``; a success clears the name's count. In memory: one console process."""

    def __init__(self, attempts: int, window_s: float) -> None:
        self.attempts = attempts
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.setdefault(key, deque())
        while q and now - q[0] > self.window_s:
            q.popleft()
        return q

    def retry_after(self, *keys: str, now: float | None = None) -> float:
        """Seconds until a login for these keys is allowed again; 0 when it is allowed now."""
        now = time.monotonic() if now is None else now
        with self._lock:
            waits = [self.window_s - (now - q[0]) for k in keys if len(q := self._recent(k, now)) >= self.attempts]
        return max(waits, default=0.0)

    def failed(self, *keys: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            for k in keys:
                self._recent(k, now).append(now)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)
