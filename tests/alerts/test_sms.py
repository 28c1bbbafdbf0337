"""SMS pages through the real twilio client against a fake Twilio on 127.0.0.1."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from alerts.base import Message
from alerts.sms import SEGMENT, SmsNotifier, sms_text
from monitor.config.alerts import AlertsConfig
from monitor.config.channels import SmsChannel
from monitor.errors import NotifierRejected, NotifierRetryable
from tests.alerts.conftest import ONCALL, TWILIO_SID, TWILIO_TOKEN
from tests.alerts.fakes.http import FakeServer, Reply

CRITICAL = Message(
    model="wheel-assembly", severity="critical", rule="dataset_drift", subject="dataset",
    headline="Driftline CRITICAL wheel-assembly: drift share 0.625 > 0.5, 5/8 features drifted",
    run_id="run-002", report_url="https://driftline.example.com/report/run-002",
    extra={"short": "force_z PSI 0.42 > 0.25, 3/8 features drifted"},
)


def sms(fake: FakeServer, **kw: str) -> SmsNotifier:
    sender = kw or {"from_number": "+15550001111"}
    return SmsNotifier(account_sid=TWILIO_SID, auth_token=TWILIO_TOKEN, to=ONCALL, api_base_url=fake.url,
                       **sender)  # type: ignore[arg-type]


def test_text_is_the_documented_one_segment_page() -> None:
    assert sms_text(CRITICAL) == (
        "Driftline CRITICAL wheel-assembly: force_z PSI 0.42 > 0.25, 3/8 features drifted. "
        "https://driftline.example.com/report/run-002"
    )


def test_long_details_are_cut_to_one_gsm_segment_keeping_the_link() -> None:
    long = Message(**{**CRITICAL.__dict__, "extra": {"short": "é≥ " + "x" * 400}})
    text = sms_text(long)
    assert len(text) == SEGMENT
    assert text.startswith("Driftline CRITICAL wheel-assembly: ?>= xxx")
    assert text.endswith("xxx... https://driftline.example.com/report/run-002")
    assert text.isascii() and "é" not in text


def test_posts_form_fields_with_basic_auth(twilio_fake: FakeServer) -> None:
    sms(twilio_fake).send(CRITICAL)
    (req,) = twilio_fake.requests
    assert req.path == f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    assert req.form() == {"To": ONCALL, "From": "+15550001111", "Body": sms_text(CRITICAL)}


def test_messaging_service_sid_instead_of_a_from_number(twilio_fake: FakeServer) -> None:
    sms(twilio_fake, messaging_service_sid="MG00000000000000000000000000000001").send(CRITICAL)
    form = twilio_fake.requests[0].form()
    assert form["MessagingServiceSid"] == "MG00000000000000000000000000000001"
    assert "From" not in form


def test_server_error_is_retryable_and_not_retried_by_the_client(twilio_fake: FakeServer) -> None:
    twilio_fake.script = [Reply(500, {"code": 20500, "message": "Internal Server Error", "status": 500})]
    with pytest.raises(NotifierRetryable, match="HTTP 500 code 20500"):
        sms(twilio_fake).send(CRITICAL)
    assert len(twilio_fake.requests) == 1


def test_invalid_number_is_rejected_with_the_number_masked(twilio_fake: FakeServer) -> None:
    twilio_fake.script = [Reply(400, {"code": 21211, "status": 400,
                                      "message": f"The 'To' number {ONCALL} is not a valid phone number."})]
    with pytest.raises(NotifierRejected, match="code 21211") as err:
        sms(twilio_fake).send(CRITICAL)
    assert ONCALL not in str(err.value)
    assert "+*******4567" in str(err.value)


def test_bad_credentials_are_rejected(twilio_fake: FakeServer) -> None:
    notifier = SmsNotifier(account_sid=TWILIO_SID, auth_token="wrong-token-123", to=ONCALL,
                           from_number="+15550001111", api_base_url=twilio_fake.url)
    with pytest.raises(NotifierRejected, match="HTTP 401 code 20003"):
        notifier.send(CRITICAL)


def test_only_critical_messages_are_paged(twilio_fake: FakeServer) -> None:
    warn = Message(**{**CRITICAL.__dict__, "severity": "warn"})
    with pytest.raises(NotifierRejected, match="critical alerts only"):
        sms(twilio_fake).send(warn)
    assert twilio_fake.requests == []


def _channel(**kw: object) -> dict[str, object]:
    return {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "from_number": "+15550001111",
            "recipients": [ONCALL], **kw}


@pytest.mark.parametrize("number", ["5551234567", "+0551234567", "+1 555 123 4567", "+1555123456789012"])
def test_recipients_must_be_e164_at_config_load(number: str) -> None:
    with pytest.raises(ValidationError) as err:
        SmsChannel.model_validate(_channel(recipients=[ONCALL, number]))
    assert "recipients" in str(err.value) and "E.164" in str(err.value)
    assert number not in str(err.value)


def test_exactly_one_sender_at_config_load() -> None:
    with pytest.raises(ValidationError, match="exactly one of from_number and messaging_service_sid"):
        SmsChannel.model_validate(_channel(messaging_service_sid="MG1"))
    with pytest.raises(ValidationError, match="exactly one"):
        SmsChannel.model_validate(_channel(from_number=None))


def test_rules_cannot_send_warnings_by_sms() -> None:
    with pytest.raises(ValidationError, match=r"channels.warn: \['sms'\] carry critical alerts only"):
        AlertsConfig.model_validate({"feature_drift": {"channels": {"warn": ["slack", "sms"]}}})
