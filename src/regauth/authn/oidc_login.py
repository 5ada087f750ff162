""" "Sign in with <IdP>" for the web UI: the OIDC authorization code flow with PKCE.

OpenID Connect Core 1.0 §3.1 with RFC 7636 (PKCE, ``S256``):

1. :meth:`OidcSignIn.begin` draws ``state``, ``nonce`` and a code verifier,
   stores the verifier and nonce under the SHA-256 of ``state`` (ten
   minutes, one use) and returns the authorization URL. The browser also
   gets ``state`` in a cookie, so a callback is accepted only in the browser
   that started the flow (no login CSRF).
2. :meth:`OidcSignIn.finish` takes the stored login (deleting it), redeems
   the code at the token endpoint with the verifier (client secret by HTTP
   Basic when configured), and verifies the ID token: signature with the
   issuer's published key (``alg`` from ``algorithms``), ``iss``, ``aud``
   contains the client id, ``azp`` when several audiences, ``exp``/``nbf``
   with 60 s leeway on the injected clock, and ``nonce``.

Every failure is an :class:`~regauth.errors.InvalidCredential` with a short
reason for the user; IdP answers and tokens are never shown or logged.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from urllib.parse import urlencode, urlsplit

import httpx
from jwt import PyJWS
from jwt.exceptions import PyJWTError

from regauth.authn.discovery import discovered_url, discovery_document
from regauth.authn.jwks import FetchFailed, JwksCache
from regauth.authn.oidc_claims import check_registered_claims, groups_of, split_unverified
from regauth.config.ui import UiOidcSettings
from regauth.domain.principal import Principal
from regauth.errors import ConfigError, InvalidCredential, ProblemError
from regauth.ports import Clock, Random
from regauth.store.ui_sessions import OidcLoginRecord, UiSessionStore

log = logging.getLogger("regauth.authn.oidc")
SOURCE = "oidc-ui"
LOGIN_TTL = timedelta(minutes=10)
LEEWAY = 60.0
HTTP_TIMEOUT = httpx.Timeout(5.0, connect=2.0)
PATH = "ui.oidc"
_JWS = PyJWS()


def code_challenge(verifier: str) -> str:
    """RFC 7636 §4.2: BASE64URL(SHA256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def state_key(state: str) -> str:
    return hashlib.sha256(state.encode("utf-8", "surrogatepass")).hexdigest()


class OidcSignIn:
    def __init__(
        self,
        settings: UiOidcSettings,
        endpoints: tuple[str, str],
        keys: JwksCache,
        *,
        http: httpx.AsyncClient,
        secret: str | None,
        store: UiSessionStore,
        clock: Clock,
        random: Random,
    ) -> None:
        self._settings = settings
        self._authorize, self._token = endpoints
        self._keys = keys
        self._http = http
        self._secret = secret
        self._store = store
        self._clock = clock
        self._random = random

    @property
    def label(self) -> str:
        return self._settings.label

    @property
    def issuer(self) -> str:
        return self._settings.issuer

    @classmethod
    async def start(
        cls,
        settings: UiOidcSettings,
        *,
        base_dir: Path,
        store: UiSessionStore,
        clock: Clock,
        random: Random,
    ) -> OidcSignIn:
        """Discovery and the first JWKS fetch; a failure stops start-up (ConfigError)."""
        secret = _secret(settings, base_dir)
        http = httpx.AsyncClient(timeout=HTTP_TIMEOUT, follow_redirects=False)
        try:
            authorize, token, jwks_uri = await _discover(settings, http)
            keys = JwksCache(jwks_uri, http=http, clock=clock, ttl=600.0, label=PATH)
            try:
                await keys.load()
            except FetchFailed as exc:
                raise ConfigError(f"could not fetch the JWKS: {exc}", path=PATH) from None
        except BaseException:
            await http.aclose()
            raise
        return cls(
            settings,
            (authorize, token),
            keys,
            http=http,
            secret=secret,
            store=store,
            clock=clock,
            random=random,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def begin(self, redirect_uri: str, return_to: str) -> tuple[str, str]:
        """The IdP's authorization URL and the ``state`` to keep in the browser."""
        state = self._random.token_urlsafe(24)
        login = OidcLoginRecord(
            verifier=self._random.token_urlsafe(48),
            nonce=self._random.token_urlsafe(24),
            return_to=return_to,
        )
        expires = self._clock.now() + LOGIN_TTL
        await self._store.put_login(state_key(state), login, expires)
        query = {
            "response_type": "code",
            "client_id": self._settings.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(self._settings.scopes),
            "state": state,
            "nonce": login.nonce,
            "code_challenge": code_challenge(login.verifier),
            "code_challenge_method": "S256",
        }
        separator = "&" if urlsplit(self._authorize).query else "?"
        return f"{self._authorize}{separator}{urlencode(query)}", state

    async def finish(self, *, state: str, code: str, redirect_uri: str) -> tuple[Principal, str]:
        """The signed-in principal and the page to return to; InvalidCredential otherwise."""
        login = await self._store.take_login(state_key(state), self._clock.now())
        if login is None:
            raise InvalidCredential("this sign-in has expired or was already used; start again")
        id_token = await self._redeem(code, redirect_uri, login.verifier)
        claims = await self._verify(id_token, login.nonce)
        return self._principal(claims), login.return_to

    async def _redeem(self, code: str, redirect_uri: str, verifier: str) -> str:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        auth: tuple[str, str] | None = None
        if self._secret is not None:
            auth = (self._settings.client_id, self._secret)
        else:
            form["client_id"] = self._settings.client_id
        try:
            response = await self._http.post(
                self._token, data=form, auth=auth or httpx.USE_CLIENT_DEFAULT
            )
            body = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("ui.oidc: the token endpoint failed: %s", type(exc).__name__)
            raise InvalidCredential("the identity provider could not be reached") from None
        token = body.get("id_token") if isinstance(body, dict) else None
        if not isinstance(token, str):
            log.info("ui.oidc: code redemption refused (HTTP %s)", response.status_code)
            raise InvalidCredential("the identity provider refused the sign-in")
        return token

    async def _verify(self, token: str, nonce: str) -> Mapping[str, object]:
        parts = split_unverified(token)
        if parts is None:
            raise InvalidCredential("the identity provider sent no usable ID token")
        header = parts[0]
        alg, kid = header.get("alg"), header.get("kid")
        if not isinstance(alg, str) or alg not in self._settings.algorithms:
            raise InvalidCredential("the ID token's signing algorithm is not accepted")
        try:
            key = await self._keys.find(kid if isinstance(kid, str) else None)
        except ProblemError:
            raise InvalidCredential("the identity provider's keys are unavailable") from None
        if key is None or not key.accepts(alg):
            raise InvalidCredential("the ID token is not signed by the identity provider")
        try:
            claims = json.loads(
                _JWS.decode_complete(token, key=key.key, algorithms=[alg])["payload"]
            )
        except (PyJWTError, ValueError):
            raise InvalidCredential("the ID token signature does not verify") from None
        if not isinstance(claims, dict):
            raise InvalidCredential("the ID token is not a JSON object")
        self._check_claims(claims, nonce)
        return claims

    def _check_claims(self, claims: Mapping[str, object], nonce: str) -> None:
        if claims.get("iss") != self._settings.issuer:
            raise InvalidCredential("the ID token comes from another issuer")
        client = self._settings.client_id
        problem = check_registered_claims(
            claims, audience=(client,), now=self._clock.now().timestamp(), leeway=LEEWAY
        )
        if problem is not None:
            raise InvalidCredential(f"the ID token is not valid: {problem.detail}")
        aud = claims.get("aud")
        if isinstance(aud, list) and len(aud) > 1 and claims.get("azp") != client:
            raise InvalidCredential("the ID token was issued to another client (azp)")
        if claims.get("nonce") != nonce:
            raise InvalidCredential("the ID token does not answer this sign-in (nonce)")

    def _principal(self, claims: Mapping[str, object]) -> Principal:
        name = claims.get(self._settings.username_claim)
        if not isinstance(name, str) or not name:
            name = claims.get("sub")
        if not isinstance(name, str) or not name:
            raise InvalidCredential("the ID token names no user")
        groups = (
            groups_of(claims.get(self._settings.groups_claim))
            if self._settings.groups_claim
            else frozenset()
        )
        kept = {k: claims[k] for k in ("sub", "email", "name") if isinstance(claims.get(k), str)}
        return Principal(name, SOURCE, groups, MappingProxyType(kept))


def _secret(settings: UiOidcSettings, base_dir: Path) -> str | None:
    if settings.client_secret is not None:
        return settings.client_secret.get_secret_value()
    if settings.client_secret_file is None:
        return None
    path = settings.client_secret_file
    path = path if path.is_absolute() else base_dir / path
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(
            f"cannot read {path}: {exc.strerror}", path=f"{PATH}.client_secret_file"
        ) from None


async def _discover(settings: UiOidcSettings, http: httpx.AsyncClient) -> tuple[str, str, str]:
    url = settings.discovery
    document = await discovery_document(
        http, url, settings.issuer, path=PATH, issuer_path=f"{PATH}.issuer"
    )
    authorize, token, jwks = (
        discovered_url(document, member, url, PATH)
        for member in ("authorization_endpoint", "token_endpoint", "jwks_uri")
    )
    return authorize, token, jwks
