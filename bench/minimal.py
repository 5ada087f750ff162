"""The ceiling reference: the least a token endpoint can do, on Starlette.

Parses the query, builds claims, signs them with ES256 (fresh ``jti`` each
time) and answers JSON, with none of regauth's work (identity, rules, audit,
metrics). ``make bench`` measures it next to the bare endpoint so regauth's
ratio can be read against what the framework and one signature allow on the
same machine in the same run.
"""

from __future__ import annotations

import base64
import os
import time

import orjson
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

KEY = ec.generate_private_key(ec.SECP256R1())
ES256 = ECAlgorithm(ECAlgorithm.SHA256)


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


HEADER = _b64(orjson.dumps({"alg": "ES256", "typ": "JWT", "kid": "bench"})) + b"."


async def token(request: Request) -> Response:
    params = request.query_params
    now = int(time.time())
    access = []
    for item in params.getlist("scope"):
        kind, _, rest = item.partition(":")
        name, _, actions = rest.rpartition(":")
        access.append({"type": kind, "name": name, "actions": actions.split(",")})
    claims = {
        "iss": "bench",
        "sub": "",
        "aud": params.get("service", ""),
        "exp": now + 300,
        "nbf": now,
        "iat": now,
        "jti": _b64(os.urandom(18)).decode(),
        "access": access,
    }
    signing_input = HEADER + _b64(orjson.dumps(claims))
    jws = (signing_input + b"." + _b64(ES256.sign(signing_input, KEY))).decode()
    body = {"token": jws, "access_token": jws, "expires_in": 300}
    return Response(orjson.dumps(body), media_type="application/json")


async def healthz(request: Request) -> Response:
    return Response(b"ok")


app = Starlette(routes=[Route("/token", token), Route("/healthz", healthz)])
