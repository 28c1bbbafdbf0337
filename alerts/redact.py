"""Keeps secrets and phone numbers out of log lines and error messages."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from monitor.config.channels import mask_phone, secret_forms

_PHONE = re.compile(r"(?:\+|%2B)\d{6,15}")  # E.164, raw or form-encoded
_MIN_SECRET = 6  # shorter values would redact ordinary words


class Redactor:
    """Replaces known secret values with *** and masks phone numbers in any text."""

    def __init__(self, secrets: Iterable[str] = (), mask_phones: bool = True) -> None:
        self._secrets: list[str] = []
        self._mask_phones = mask_phones
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        """Registers more secret values, with their encoded forms (URL-encoded, JSON-escaped, base64)."""
        merged = set(self._secrets) | {f for s in secrets if s and len(s) >= _MIN_SECRET
                                       for f in secret_forms(s) if len(f) >= _MIN_SECRET}
        # longest first, so a secret that contains another is replaced whole
        self._secrets = sorted(merged, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        if self._mask_phones:
            text = _PHONE.sub(lambda m: mask_phone(m.group(0)), text)
        return text


class RedactingFilter(logging.Filter):
    """A logging filter that renders each record once and redacts it."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redact = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._redact(record.getMessage())
        record.args = None
        if record.exc_info:
            # a traceback could quote a URL or header: keep only the redacted summary
            exc = record.exc_info[1]
            record.msg = f"{record.msg} ({type(exc).__name__}: {self._redact(str(exc))})"
            record.exc_info = None
            record.exc_text = None
        return True


def redacting_logger(name: str, redactor: Redactor) -> logging.Logger:
    """A logger for a vendor SDK whose every record passes through the redactor."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter(redactor))
    else:
        for f in logger.filters:
            if isinstance(f, RedactingFilter):
                f._redact.add(*redactor._secrets)
    return logger
