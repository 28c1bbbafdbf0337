"""Token verification against certificates served from 127.0.0.1, and 401s at the FastAPI edge."""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt as pyjwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from google.auth import crypt
from google.auth import jwt as google_jwt
from google.auth.crypt import es

from monitor.api.auth import Authenticator, ReaderDep, RunnerDep, require_reader, require_runner
from monitor.api.verifier import IAP_HEADER, Principal, Verifier
from monitor.config import AuthSettings, Settings
from monitor.errors import AuthError, ConfigError

SERVICE = "https://driftline-abc123-ew.a.run.app"
SCHEDULER = "driftline-scheduler@proj.iam.gserviceaccount.com"
READER = "dashboards@proj.iam.gserviceaccount.com"
IAP_AUD = "/projects/123456/global/backendServices/987654"
KID = "test-key-1"
IAP_KID = "iap-key-1"


def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _self_signed(key: rsa.RSAPrivateKey) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "driftline-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@dataclass
class Keys:
    """The test's stand-in for Google's and IAP's signing keys, and the certs served for them."""

    rsa_key: rsa.RSAPrivateKey
    other_rsa_key: rsa.RSAPrivateKey
    ec_key: ec.EllipticCurvePrivateKey
    routes: dict[str, bytes] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)


@pytest.fixture(scope="module")
def keys() -> Keys:
    k = Keys(_rsa(), _rsa(), ec.generate_private_key(ec.SECP256R1()))
    rsa_jwk = json.loads(pyjwt.algorithms.RSAAlgorithm.to_jwk(k.rsa_key.public_key()))
    ec_jwk = json.loads(pyjwt.algorithms.ECAlgorithm.to_jwk(k.ec_key.public_key()))
    ec_public_pem = k.ec_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    k.routes = {
        # Google's two formats: {kid: x509 PEM} (v1) and a JWK set (v3); IAP likewise.
        "/oauth2/v1/certs": json.dumps({KID: _self_signed(k.rsa_key)}).encode(),
        "/oauth2/v3/certs": json.dumps(
            {"keys": [{**rsa_jwk, "kid": KID, "alg": "RS256", "use": "sig"}]}
        ).encode(),
        "/iap/verify/public_key": json.dumps({IAP_KID: ec_public_pem.decode()}).encode(),
        "/iap/verify/public_key-jwk": json.dumps({"keys": [{**ec_jwk, "kid": IAP_KID, "alg": "ES256"}]}).encode(),
    }
    return k


@pytest.fixture(scope="module")
def certs_server(keys: Keys) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = keys.routes.get(self.path)
            keys.hits[self.path] = keys.hits.get(self.path, 0) + 1
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body or b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _settings(base: str, **over: Any) -> AuthSettings:
    values: dict[str, Any] = {
        "mode": "google",
        "audience": SERVICE,
        "scheduler_service_account": SCHEDULER,
        "reader_service_accounts": (READER,),
        "iap_audience": IAP_AUD,
        "oidc_certs_url": base + "/oauth2/v1/certs",
        "iap_certs_url": base + "/iap/verify/public_key",
        "clock_skew_seconds": 0,
    }
    return AuthSettings(**{**values, **over})


def _claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": "https://accounts.google.com",
        "aud": SERVICE,
        "sub": "1234567890",
        "azp": "1234567890",
        "email": SCHEDULER,
        "email_verified": True,
        "iat": now,
        "exp": now + 3600,
    }
    claims.update(over)
    return {k: v for k, v in claims.items() if v is not None}


def _rs256(key: rsa.RSAPrivateKey, claims: dict[str, Any], kid: str = KID) -> str:
    signer = crypt.RSASigner.from_string(_pem(key), key_id=kid)
    return google_jwt.encode(signer, claims).decode()


def _es256(key: ec.EllipticCurvePrivateKey, claims: dict[str, Any]) -> str:
    signer = es.EsSigner.from_string(_pem(key), key_id=IAP_KID)
    return google_jwt.encode(signer, claims).decode()


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _iap_claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": "https://cloud.google.com/iap", "aud": IAP_AUD, "email": "ana@example.com",
              "sub": "accounts.google.com:42", "iat": now, "exp": now + 600}
    claims.update(over)
    return {k: v for k, v in claims.items() if v is not None}


# --- the OIDC token of POST /run -------------------------------------------------------------


@pytest.fixture(params=["/oauth2/v1/certs", "/oauth2/v3/certs"], ids=["x509-certs", "jwk-set"])
def verifier(request: pytest.FixtureRequest, certs_server: str) -> Verifier:
    return Verifier(_settings(certs_server, oidc_certs_url=certs_server + request.param))


def test_good_scheduler_token_is_accepted(verifier: Verifier, keys: Keys) -> None:
    token = _rs256(keys.rsa_key, _claims())
    assert verifier.authenticate_runner(f"Bearer {token}") == Principal(email=SCHEDULER, via="oidc")


@pytest.mark.parametrize(
    "claims, reason",
    [
        ({"aud": "https://someone-else.a.run.app"}, "audience"),
        ({"email": "intruder@proj.iam.gserviceaccount.com"}, "email"),
        ({"iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600}, "xpired"),
        ({"iss": "https://evil.example.com"}, "issuer"),
        ({"email_verified": False}, "verified"),
        ({"email": None}, "email"),
        ({"exp": None}, "exp"),
    ],
    ids=["wrong-audience", "wrong-email", "expired", "wrong-issuer", "unverified-email", "no-email", "no-exp"],
)
def test_bad_claims_are_refused(verifier: Verifier, keys: Keys, claims: dict[str, Any], reason: str) -> None:
    token = _rs256(keys.rsa_key, _claims(**claims))
    with pytest.raises(AuthError, match="(?i)" + reason):
        verifier.authenticate_runner(f"Bearer {token}")


def test_bad_signature_is_refused(verifier: Verifier, keys: Keys) -> None:
    forged = _rs256(keys.other_rsa_key, _claims())  # same kid, another key
    with pytest.raises(AuthError):
        verifier.authenticate_runner(f"Bearer {forged}")
    good = _rs256(keys.rsa_key, _claims())
    head, payload, _ = good.split(".")
    tampered = ".".join([head, _b64(_claims(email=SCHEDULER, sub="other")), good.split(".")[2]])
    with pytest.raises(AuthError):
        verifier.authenticate_runner(f"Bearer {tampered}")
    assert payload  # the untampered token still verifies: the refusals above were about the signature
    verifier.authenticate_runner(f"Bearer {good}")


def test_alg_none_is_refused(verifier: Verifier) -> None:
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': KID})}.{_b64(_claims())}."
    with pytest.raises(AuthError, match="algorithm"):
        verifier.authenticate_runner(f"Bearer {unsigned}")


def test_token_stripped_by_cloud_run_is_refused_with_the_reason(verifier: Verifier, keys: Keys) -> None:
    head, payload, _ = _rs256(keys.rsa_key, _claims()).split(".")
    with pytest.raises(AuthError, match="no-invoker-iam-check"):
        verifier.authenticate_runner(f"Bearer {head}.{payload}.SIGNATURE_REMOVED_BY_GOOGLE")


def test_hs256_with_the_public_key_as_secret_is_refused(verifier: Verifier, keys: Keys) -> None:
    public_pem = keys.rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": KID}
    signing_input = f"{_b64(header)}.{_b64(_claims())}".encode()
    import hashlib
    import hmac

    sig = base64.urlsafe_b64encode(hmac.new(public_pem, signing_input, hashlib.sha256).digest()).rstrip(b"=")
    with pytest.raises(AuthError, match="algorithm"):
        verifier.authenticate_runner(f"Bearer {signing_input.decode()}.{sig.decode()}")


@pytest.mark.parametrize("header", [None, "", "Basic dXNlcjpwYXNz", "Bearer", "Bearer not.a.jwt"])
def test_missing_or_malformed_authorization_is_refused(verifier: Verifier, header: str | None) -> None:
    with pytest.raises(AuthError):
        verifier.authenticate_runner(header)


def test_reader_token_may_read_but_not_run(verifier: Verifier, keys: Keys) -> None:
    token = _rs256(keys.rsa_key, _claims(email=READER))
    assert verifier.authenticate_reader(f"Bearer {token}", None).email == READER
    with pytest.raises(AuthError, match="email"):
        verifier.authenticate_runner(f"Bearer {token}")


def test_certificates_are_fetched_once_per_cache_period(certs_server: str, keys: Keys) -> None:
    url = certs_server + "/oauth2/v1/certs?cached"
    keys.routes["/oauth2/v1/certs?cached"] = keys.routes["/oauth2/v1/certs"]
    verifier = Verifier(_settings(certs_server, oidc_certs_url=url))
    for _ in range(5):
        verifier.authenticate_runner(f"Bearer {_rs256(keys.rsa_key, _claims())}")
    assert keys.hits["/oauth2/v1/certs?cached"] == 1


def test_unreachable_certificates_refuse_rather_than_crash(keys: Keys) -> None:
    verifier = Verifier(_settings("http://127.0.0.1:9", oidc_certs_url="http://127.0.0.1:9/certs"))
    with pytest.raises(AuthError, match="certificates"):
        verifier.authenticate_runner(f"Bearer {_rs256(keys.rsa_key, _claims())}")


# --- IAP's signed header for readers ---------------------------------------------------------


@pytest.mark.parametrize("path", ["/iap/verify/public_key", "/iap/verify/public_key-jwk"], ids=["pem", "jwk"])
def test_good_iap_assertion_is_accepted(certs_server: str, keys: Keys, path: str) -> None:
    verifier = Verifier(_settings(certs_server, iap_certs_url=certs_server + path))
    principal = verifier.authenticate_reader(None, _es256(keys.ec_key, _iap_claims()))
    assert principal == Principal(email="ana@example.com", via="iap")


@pytest.mark.parametrize(
    "claims, reason",
    [
        ({"aud": "/projects/123456/global/backendServices/1"}, "audience"),
        ({"iss": "https://accounts.google.com"}, "issuer"),
        ({"iat": int(time.time()) - 1200, "exp": int(time.time()) - 600}, "xpired"),
        ({"email": None}, "email"),
    ],
    ids=["wrong-audience", "wrong-issuer", "expired", "no-email"],
)
def test_bad_iap_assertions_are_refused(
    certs_server: str, keys: Keys, claims: dict[str, Any], reason: str
) -> None:
    verifier = Verifier(_settings(certs_server))
    with pytest.raises(AuthError, match="(?i)" + reason):
        verifier.authenticate_reader(None, _es256(keys.ec_key, _iap_claims(**claims)))


def test_iap_header_signed_with_rs256_or_a_foreign_key_is_refused(certs_server: str, keys: Keys) -> None:
    verifier = Verifier(_settings(certs_server))
    with pytest.raises(AuthError, match="algorithm"):
        verifier.authenticate_reader(None, _rs256(keys.rsa_key, _iap_claims(), kid=IAP_KID))
    foreign = _es256(ec.generate_private_key(ec.SECP256R1()), _iap_claims())
    with pytest.raises(AuthError):
        verifier.authenticate_reader(None, foreign)


def test_an_invalid_iap_header_is_not_bypassed_by_falling_back(certs_server: str, keys: Keys) -> None:
    verifier = Verifier(_settings(certs_server))
    good_token = _rs256(keys.rsa_key, _claims())
    with pytest.raises(AuthError):
        verifier.authenticate_reader(f"Bearer {good_token}", "garbage.garbage.garbage")


def test_iap_header_is_ignored_when_iap_is_not_configured(certs_server: str, keys: Keys) -> None:
    verifier = Verifier(_settings(certs_server, iap_audience=""))
    with pytest.raises(AuthError, match="Bearer"):
        verifier.authenticate_reader(None, _es256(keys.ec_key, _iap_claims()))


# --- settings: a deployed mode with no auth refuses to start ------------------------------------


@pytest.mark.parametrize(
    "values, field_name",
    [
        ({"mode": "google", "scheduler_service_account": SCHEDULER}, "audience"),
        ({"mode": "google", "audience": SERVICE}, "scheduler_service_account"),
        ({}, "audience"),  # the default mode is google: forgetting auth fails closed
        ({"mode": "local-token"}, "bearer_token"),
        ({"mode": "local-token", "bearer_token": "short"}, "bearer_token"),
        ({"mode": "open"}, "mode"),
        ({"mode": "local-open", "bearer": "x"}, "bearer"),
    ],
)
def test_invalid_settings_name_the_field(values: dict[str, Any], field_name: str) -> None:
    with pytest.raises(ConfigError, match=field_name):
        AuthSettings.from_mapping(values)


def test_settings_from_the_service_settings_object() -> None:
    settings = Settings(auth_mode="google", public_url=SERVICE, scheduler_service_account=SCHEDULER,
                        reader_service_accounts=f"{READER}, other@proj.iam.gserviceaccount.com").auth
    assert settings.audience == SERVICE
    assert settings.reader_service_accounts == (READER, "other@proj.iam.gserviceaccount.com")
    assert "secret" not in repr(AuthSettings(mode="local-token", bearer_token="secret" * 4))


# --- the FastAPI edge --------------------------------------------------------------------------


def _app(settings: AuthSettings) -> FastAPI:
    # Dependencies as defaults: string annotations (PEP 563) cannot see function-local aliases.
    auth = Authenticator(settings)
    runner = Depends(auth.runner)
    reader = Depends(require_reader(settings))
    app = FastAPI()

    @app.post("/run")
    def run(who: Principal = runner) -> dict[str, str]:
        return {"by": who.email, "via": who.via}

    @app.get("/report")
    def report(who: Principal = reader) -> dict[str, str]:
        return {"by": who.email, "via": who.via}

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def test_deployed_mode_refuses_unauthenticated_requests(certs_server: str, keys: Keys) -> None:
    client = TestClient(_app(_settings(certs_server)))
    for method, path in [("POST", "/run"), ("GET", "/report")]:
        response = client.request(method, path)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json() == {"detail": "not authenticated"}
    assert client.get("/healthz").status_code == 200


def test_deployed_mode_admits_the_right_callers(certs_server: str, keys: Keys) -> None:
    client = TestClient(_app(_settings(certs_server)))
    token = {"Authorization": f"Bearer {_rs256(keys.rsa_key, _claims())}"}
    iap = {IAP_HEADER: _es256(keys.ec_key, _iap_claims())}
    assert client.post("/run", headers=token).json() == {"by": SCHEDULER, "via": "oidc"}
    assert client.get("/report", headers=token).status_code == 200
    assert client.get("/report", headers=iap).json() == {"by": "ana@example.com", "via": "iap"}
    assert client.post("/run", headers=iap).status_code == 401  # IAP users read, they do not run


def test_local_token_mode(certs_server: str) -> None:
    secret = "s3cret-token-0123456789"
    app = _app(AuthSettings(mode="local-token", bearer_token=secret))
    client = TestClient(app)
    assert client.post("/run", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    assert client.get("/report", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    assert client.post("/run", headers={"Authorization": f"Bearer {secret}x"}).status_code == 401
    assert client.get("/report").status_code == 401


def test_local_open_mode_is_open() -> None:
    client = TestClient(_app(AuthSettings(mode="local-open")))
    assert client.post("/run").json() == {"by": "anonymous", "via": "open"}
    assert client.get("/report").status_code == 200


def test_require_runner_is_a_dependency() -> None:
    dependency = require_runner(AuthSettings(mode="local-open"))
    app = FastAPI()

    @app.post("/run")
    def run(who: Principal = Depends(dependency)) -> str:  # noqa: B008
        return who.via

    assert TestClient(app).post("/run").json() == "open"


def _app_with_state_dependencies(settings: AuthSettings | None) -> FastAPI:
    app = FastAPI()
    if settings is not None:
        app.state.authenticator = Authenticator(settings)

    @app.post("/run")
    def run(who: RunnerDep) -> str:
        return who.email

    @app.get("/report")
    def report(who: ReaderDep) -> str:
        return who.email

    return app


def test_module_level_dependency_aliases_use_the_apps_authenticator(certs_server: str, keys: Keys) -> None:
    client = TestClient(_app_with_state_dependencies(_settings(certs_server)))
    assert client.post("/run").status_code == 401
    assert client.get("/report", params={"who": "x"}).status_code == 401  # not a query parameter
    token = {"Authorization": f"Bearer {_rs256(keys.rsa_key, _claims())}"}
    assert client.post("/run", headers=token).json() == SCHEDULER
    assert client.get("/report", headers={IAP_HEADER: _es256(keys.ec_key, _iap_claims())}).json() == "ana@example.com"


def test_an_app_without_an_authenticator_fails_closed() -> None:
    client = TestClient(_app_with_state_dependencies(None), raise_server_exceptions=False)
    assert client.post("/run").status_code == 500


# --- the real app: every route but /healthz is guarded ---------------------------------------


@pytest.fixture()
def real_app(tmp_path: Any, certs_server: str) -> FastAPI:
    import shutil
    from pathlib import Path

    from monitor.api.app import create_app
    from monitor.config import Settings

    examples = Path(__file__).resolve().parents[3] / "monitor" / "demo" / "examples" / "wheel-assembly.yaml"
    shutil.copy(examples, tmp_path)
    settings = Settings(
        config_dir=str(tmp_path),
        auth_mode="google",
        public_url=SERVICE,
        scheduler_service_account=SCHEDULER,
        iap_audience=IAP_AUD,
        oidc_certs_url=certs_server + "/oauth2/v1/certs",
        iap_certs_url=certs_server + "/iap/verify/public_key",
    )
    return create_app(settings)


def test_real_app_refuses_unauthenticated_requests(real_app: FastAPI) -> None:
    client = TestClient(real_app)
    guarded = [("POST", "/run"), ("GET", "/report"), ("GET", "/report/r1"), ("GET", "/report/r1/evidently"),
               ("GET", "/runs"), ("GET", "/metrics")]
    for method, path in guarded:
        assert client.request(method, path).status_code == 401, path
    assert client.get("/healthz").status_code == 200


def test_real_app_guards_every_route_it_declares(real_app: FastAPI) -> None:
    from fastapi.routing import APIRoute

    open_routes = {"/healthz"}
    for route in real_app.routes:
        if not isinstance(route, APIRoute) or route.path in open_routes:
            continue
        names = {getattr(d.call, "__name__", "") for d in route.dependant.dependencies}
        roles = {n.removeprefix("current_") for n in names} & {"runner", "reader"}
        assert roles, f"{sorted(route.methods)} {route.path} has no auth dependency"
        expected = "runner" if "POST" in route.methods else "reader"
        assert expected in roles, f"{route.path} should require the {expected}"


def test_real_app_admits_an_iap_reader(real_app: FastAPI, keys: Keys) -> None:
    client = TestClient(real_app)
    response = client.get("/runs", headers={IAP_HEADER: _es256(keys.ec_key, _iap_claims())})
    assert response.status_code == 200
    assert client.post("/run", headers={IAP_HEADER: _es256(keys.ec_key, _iap_claims())}).status_code == 401


def test_real_app_refuses_to_start_without_auth_settings(tmp_path: Any) -> None:
    import shutil
    from pathlib import Path

    from monitor.api.app import create_app
    from monitor.config import Settings

    shutil.copy(Path(__file__).resolve().parents[3] / "monitor" / "demo" / "examples" / "wheel-assembly.yaml", tmp_path)
    with pytest.raises(ConfigError, match="audience"):
        create_app(Settings(config_dir=str(tmp_path), auth_mode="google"))
