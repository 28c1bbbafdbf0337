"""The redactor hides secrets in the forms logs and errors quote them: raw, URL-encoded, JSON-escaped, base64."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

from alerts.redact import Redactor
from monitor.config.channels import ChannelsConfig

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "twilio-auth-token-0123456789"
HOOK = "https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX"


def _channels() -> ChannelsConfig:
    return ChannelsConfig.model_validate({
        "sms": {"account_sid": SID, "auth_token": TOKEN, "from_number": "+15550001111", "recipients": ["+15550002222"]},
        "slack": {"webhook_url": HOOK}})


def test_an_echoed_twilio_basic_credential_is_redacted() -> None:
    redact = Redactor(_channels().secrets())
    basic = base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    out = redact(f"request headers: {{'Authorization': 'Basic {basic}'}}")
    assert basic not in out and "Basic ***" in out


def test_the_twilio_account_sid_is_a_secret() -> None:
    out = Redactor(_channels().secrets())(f"POST https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json")
    assert SID not in out


def test_json_escaped_and_url_encoded_webhook_paths_are_redacted() -> None:
    redact = Redactor(_channels().secrets())
    escaped = json.dumps({"url": HOOK}).replace("/", "\\/")  # as some JSON encoders write it
    for text in (escaped, f"url={quote(HOOK, safe='')}", json.dumps({"url": HOOK})):
        out = redact(text)
        assert "XXXXSECRETXXXX" not in out, out


def test_ordinary_words_are_left_alone() -> None:
    assert Redactor(["abc"])("abc def") == "abc def"  # too short to be a secret
