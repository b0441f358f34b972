#!/usr/bin/env python3
"""Writes the committed seed corpora (fuzz/corpus/<target>/seed-*): real tokens, deliveries and
requests of the platform, signed with the fuzz targets' fixed secrets (fuzz_targets/common.rs).
Standard library only; run it again after changing a secret or a request format."""

import base64, hashlib, hmac, json, pathlib

JWT_SECRET = b"fuzz-jwt-secret-0123456789abcdef"
WEBHOOK_SECRET = b"fuzz-webhook-secret"
ROOT = pathlib.Path(__file__).resolve().parent / "corpus"
FAR = 4_102_444_800  # 2100-01-01: the seed access tokens do not expire during a run
NOW = 1_800_000_000  # reservation_token.rs's fixed clock


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(claims: dict, key: bytes, alg: str = "HS256") -> str:
    head = b64(json.dumps({"typ": "JWT", "alg": alg}, separators=(",", ":")).encode())
    body = b64(json.dumps(claims, separators=(",", ":")).encode())
    sig = hmac.new(key, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


def write(target: str, name: str, data) -> None:
    directory = ROOT / target
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"seed-{name}").write_bytes(data.encode() if isinstance(data, str) else data)


def access(sub="usr_fuzzbuyer", role="user", iss="traffic-tacos", aud="traffic-tacos-api", exp=FAR):
    return {"sub": sub, "role": role, "iss": iss, "aud": aud, "iat": exp - 86400, "exp": exp}


write("access_token", "user", jwt(access(), JWT_SECRET))
write("access_token", "admin", jwt(access(sub="usr_admin", role="admin"), JWT_SECRET))
write("access_token", "wrong-audience", jwt(access(aud="other"), JWT_SECRET))
write("access_token", "expired", jwt(access(exp=1_600_000_000), JWT_SECRET))
write("access_token", "alg-none", jwt(access(), JWT_SECRET, alg="none").rsplit(".", 1)[0] + ".")
write("access_token", "rs256", jwt(access(), JWT_SECRET, alg="RS256"))

rkey = hmac.new(JWT_SECRET, b"traffic-tacos reservation tokens v1", hashlib.sha256).digest()


def reservation(evt="evt_demo", sub="usr_fuzz", exp=NOW + 25):
    return {"jti": "0" * 32, "sub": sub, "evt": evt, "wtkn": "wtkn_" + "1" * 32, "batch": 3,
            "aud": "tacos-reservation", "iat": exp - 30, "exp": exp}


write("reservation_token", "valid", "rtkn_" + jwt(reservation(), rkey))
write("reservation_token", "other-event", "rtkn_" + jwt(reservation(evt="evt_other"), rkey))
write("reservation_token", "expired", "rtkn_" + jwt(reservation(exp=NOW), rkey))
write("reservation_token", "access-key", "rtkn_" + jwt(reservation(), JWT_SECRET))
write("reservation_token", "no-prefix", jwt(reservation(), rkey))


def delivery(ts: int, body: str, now: int, sig=None) -> bytes:
    mac = hmac.new(WEBHOOK_SECRET, f"{ts}.wh_{ts}.{body}".encode(), hashlib.sha256).hexdigest()
    head = (f"X-Webhook-Id: wh_{ts}\nX-Timestamp: {ts}\nX-Signature: {sig or 'sha256=' + mac}\n"
            f"Now: {now}\n\n")
    return b"\x00" + head.encode() + body.encode()


body = json.dumps({"type": "payment.approved", "payment_intent_id": "pi_1", "reservation_id":
                   "rsv_1", "amount": 4500, "currency": "USD", "ts": NOW}, separators=(",", ":"))
write("webhook", "approved", delivery(NOW, body, NOW + 10))
write("webhook", "failed", delivery(NOW, body.replace("approved", "failed"), NOW - 299))
write("webhook", "stale", delivery(NOW, body, NOW + 301))
write("webhook", "bad-hex", delivery(NOW, body, NOW, sig="sha256=zz"))
write("webhook", "min-timestamp", delivery(-9223372036854775808, body, NOW))
write("webhook", "tampered", b"\x01" + b"\x00" * 16 + body.encode())

REQUESTS = {
    "register": 'POST /api/v1/auth/register\nContent-Type: application/json\n\n'
                '{"username":"ana$UUID","password":"correct horse"}',
    "login": 'POST /api/v1/auth/login\nContent-Type: application/json\n\n'
             '{"username":"fuzzbuyer","password":"fuzz-buyer-password"}',
    "events": 'GET /api/v1/events\n\n',
    "availability": 'GET /api/v1/events/evt_demo/availability\n\n',
    "join": 'POST /api/v1/queue/join\nAuthorization: Bearer $USER\nIdempotency-Key: $UUID\n'
            'Content-Type: application/json\n\n{"event_id":"evt_demo"}',
    "status": 'GET /api/v1/queue/status?token=$WTKN\n\n',
    "enter": 'POST /api/v1/queue/enter\nAuthorization: Bearer $USER\nIdempotency-Key: $UUID\n'
             'Content-Type: application/json\n\n{"waiting_token":"$WTKN"}',
    "leave": 'DELETE /api/v1/queue/leave?token=$WTKN\n\n',
    "reserve": 'POST /api/v1/reservations\nAuthorization: Bearer $USER\nIdempotency-Key: $UUID\n'
               'Content-Type: application/json\n\n{"event_id":"evt_demo","seat_ids":["A-12"],'
               '"quantity":1,"reservation_token":"rtkn_x"}',
    "intent": 'POST /api/v1/payments/intent\nAuthorization: Bearer $USER\nIdempotency-Key: $UUID\n'
              'Content-Type: application/json\n\n{"reservation_id":"rsv_1","amount":4500,'
              '"currency":"USD","scenario":"approve"}',
    "webhook": 'POST /api/v1/payments/webhook\nX-Webhook-Id: wh_1\nX-Timestamp: -9223372036854775808\n'
               'X-Signature: sha256=00\nContent-Type: application/json\n\n{"type":"payment.approved"}',
    "admin-event": 'POST /api/v1/admin/events\nAuthorization: Bearer $ADMIN\nContent-Type: application/json'
                   '\n\n{"name":"N","venue":"V","starts_at":"2030-01-01T00:00:00Z","currency":"USD",'
                   '"price":100,"capacity":10,"admission_rate_per_sec":5}',
    # Found by the long run: a path id that does not percent-decode (was axum's plain-text 400).
    "bad-percent": 'GET /api/v1/events/evt_de%%aa\n\n',
    "preflight": 'OPTIONS /api/v1/reservations\nOrigin: http://example.com\n'
                 'Access-Control-Request-Method: POST\n\n',
}
for name, text in REQUESTS.items():
    write("request_decoding", name, text)
