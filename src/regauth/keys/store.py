"""The key store: generation, import, rotation and loading (SPEC §2).

The store is a key directory by default, or the database
(``keys.store = "database"``, :mod:`regauth.store.key_material`), behind the
same :class:`~regauth.keys._blobs.Blobs` port. Writers
(:meth:`KeyStore.create_ca`, :meth:`~KeyStore.generate`,
:meth:`~KeyStore.rotate`, :meth:`~KeyStore.rotate_if_due`,
:meth:`~KeyStore.import_key`) hold the store's exclusive lock (an ``flock`` on
``<dir>/.lock``, or a database lock shared by every replica), write key and
certificate files first and ``keyring.json`` last, each atomically: a server
reloading concurrently sees the old keyring or the new one, never a
half-written state. :meth:`KeyStore.load` takes no lock.

A retired key keeps verifying until ``valid_until`` (retirement time + grace,
which must cover the token lifetime plus the registry's leeway); after that
it is dropped and its files deleted. Every problem with the stored material
raises :class:`~regauth.errors.ConfigError`; secrets never appear in messages.
The file layout is described in :mod:`regauth.keys._layout`.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from regauth.errors import ConfigError
from regauth.keys._blobs import Blobs, FileBlobs
from regauth.keys._layout import CA_KEY, STATE, Layout, crt_name, key_name
from regauth.keys._state import Retired, StoreState, key_id_time, new_key_id
from regauth.keys.algorithms import (
    MIN_RSA_BITS,
    Algorithm,
    PrivateKey,
    algorithm_for_key,
    check_key_matches,
    generate_private_key,
)
from regauth.keys.certs import (
    CLOCK_SKEW,
    cert_matches_key,
    certificate_public_key,
    chain_for_key,
    common_name,
    is_issued_by,
    load_certificates,
    load_pkcs12,
    load_private_key,
    make_ca,
    make_leaf,
)
from regauth.keys.keyring import Keyring, SigningKey
from regauth.keys.kid import KidMode
from regauth.ports import Clock

DEFAULT_LEAF_NAME = "regauth token signer"
DEFAULT_CA_NAME = "regauth token CA"
DEFAULT_GRACE = timedelta(minutes=6)


class KeyStore:
    """A key directory (or database, see :meth:`over`); safe to share between processes."""

    def __init__(self, directory: Path, clock: Clock, passphrase: bytes | None = None) -> None:
        self.directory = Path(directory)
        self._init(FileBlobs(self.directory), str(self.directory), clock, passphrase)

    @classmethod
    def over(
        cls, blobs: Blobs, where: str, clock: Clock, passphrase: bytes | None = None
    ) -> KeyStore:
        """A store kept in ``blobs`` (e.g. the database); ``where`` names it in messages."""
        store = cls.__new__(cls)
        store.directory = Path()
        store._init(blobs, where, clock, passphrase)
        return store

    def _init(self, blobs: Blobs, where: str, clock: Clock, passphrase: bytes | None) -> None:
        if passphrase == b"":
            raise ConfigError("the key passphrase is empty")
        self._where = where
        self._clock = clock
        self._files = Layout(blobs, passphrase)

    def exists(self) -> bool:
        """Whether a keyring has been committed to this store."""
        return self._files.has_state()

    def has_ca(self) -> bool:
        """Whether a stable CA (key and certificate) is present."""
        return self._files.has_ca()

    def state_token(self) -> str:
        """A cheap value that changes whenever ``keyring.json`` is replaced ("" if missing)."""
        return self._files.blobs.stamp(STATE)

    def close(self) -> None:
        """Release the store's connections (a no-op for a directory)."""
        self._files.blobs.close()

    def create_ca(
        self,
        alg: Algorithm,
        common_name: str = DEFAULT_CA_NAME,
        days: int = 3650,
        *,
        force: bool = False,
        rsa_bits: int = MIN_RSA_BITS,
    ) -> x509.Certificate:
        """Create the stable CA that signs later leaves; replace one only if ``force``."""
        with self._files.locked():
            if self.has_ca() and not force:
                raise ConfigError(f"a CA already exists in {self._where}; force to replace")
            key = generate_private_key(alg, rsa_bits)
            cert = make_ca(key, common_name, self._clock.now(), days)
            self._files.write_ca(key, cert)
            state = self._files.read_state()
            if state is not None:  # rewritten even if unchanged, so reloaders see the new CA
                self._files.write_state(
                    StoreState(state.current, state.current_alg, state.retired, ca=True)
                )
        return cert

    def generate(
        self,
        alg: Algorithm,
        *,
        common_name: str = DEFAULT_LEAF_NAME,
        days: int = 90,
        grace: timedelta = DEFAULT_GRACE,
        rsa_bits: int = MIN_RSA_BITS,
    ) -> str:
        """Make a new current leaf key; the old current verifies for ``grace``. Returns its id."""
        with self._files.locked():
            return self._generate(alg, common_name, days, grace, rsa_bits)

    def rotate(self, *, grace: timedelta, days: int = 90) -> str:
        """Replace the current key by a new one of the same algorithm (and RSA size)."""
        with self._files.locked():
            return self._rotate(grace, days)

    def rotate_if_due(self, due: datetime, *, grace: timedelta, days: int = 90) -> bool:
        """Rotate unless the current key was made at or after ``due``; True if rotated.

        Every server process calls this for the same cron tick: the first to
        get the lock rotates, the others then see a key newer than ``due``.
        """
        with self._files.locked():
            state = self._require_state()
            # Key ids carry whole seconds, so compare at that resolution.
            if self._created_at(state.current) >= due.replace(microsecond=0):
                return False
            self._rotate(grace, days)
            return True

    def import_key(
        self,
        key_data: bytes,
        *,
        cert_data: bytes | None = None,
        passphrase: bytes | None = None,
        pkcs12: bool = False,
        grace: timedelta = DEFAULT_GRACE,
        alg: Algorithm | None = None,
    ) -> str:
        """Install an operator's key (PEM/DER, or a PKCS#12 bundle) as the current key.

        The certificate comes from ``cert_data`` and/or the bundle and must match
        the key; without one a leaf is made (CA-signed if a CA exists). ``alg``
        defaults to the key's natural algorithm (RS256 for RSA).
        """
        certs = load_certificates(cert_data) if cert_data is not None else []
        if pkcs12:
            key, cert, extra = load_pkcs12(key_data, passphrase)
            certs = [*([cert] if cert is not None else []), *extra, *certs]
        else:
            key = load_private_key(key_data, passphrase)
        alg = alg or algorithm_for_key(key)
        check_key_matches(alg, key)
        chain = chain_for_key(key, certs) if certs else None
        if chain is not None and chain[0].not_valid_after_utc <= self._clock.now():
            raise ConfigError("the certificate has expired")
        with self._files.locked():
            if chain is None:
                chain = [self._make_leaf(key, DEFAULT_LEAF_NAME, 90)]
            return self._install(key, alg, chain, grace)

    def load(self, kid_mode: KidMode = "libtrust") -> Keyring:
        """The keyring as committed now, without retired keys whose grace has passed.

        Expired retired keys are also deleted (best effort: a read-only
        directory is fine). ConfigError if there is no keyring or it is broken.
        """
        try:
            raw = self._files.read_state_bytes()
        except FileNotFoundError:
            raise ConfigError(f"no signing key in {self._where}; generate one first") from None
        except OSError as exc:
            raise ConfigError(f"cannot read {exc.filename}: {exc.strerror}") from None
        state = StoreState.from_json(raw)
        live, expired = state.split_expired(self._clock.now())
        try:
            ca = self._files.read_ca_cert() if state.ca else None
            current = self._load_key(state.current, state.current_alg, None, ca, kid_mode)
            previous = [key for r in live.retired if (key := self._load_retired(r, ca, kid_mode))]
        except OSError as exc:
            raise ConfigError(f"cannot read {exc.filename}: {exc.strerror}") from None
        if expired:
            self._prune_quietly()
        digest = hashlib.sha256(raw)
        if ca is not None:
            digest.update(ca.public_bytes(serialization.Encoding.DER))
        return Keyring(current, tuple(previous), ca, digest.hexdigest()[:16])

    def _generate(
        self, alg: Algorithm, common_name: str, days: int, grace: timedelta, rsa_bits: int
    ) -> str:
        key = generate_private_key(alg, rsa_bits)
        return self._install(key, alg, [self._make_leaf(key, common_name, days)], grace)

    def _rotate(self, grace: timedelta, days: int) -> str:
        state = self._require_state()
        leaf = self._files.read_chain(state.current)[0]
        public = certificate_public_key(leaf)
        alg = state.current_alg or algorithm_for_key(public)
        bits = public.key_size if isinstance(public, rsa.RSAPublicKey) else MIN_RSA_BITS
        name = common_name(leaf) or DEFAULT_LEAF_NAME
        return self._generate(alg, name, days, grace, max(bits, MIN_RSA_BITS))

    def _make_leaf(self, key: PrivateKey, name: str, days: int) -> x509.Certificate:
        now = self._clock.now()
        if not self.has_ca():
            return make_leaf(key, name, now, days)
        ca_key = self._files.read_private_key(CA_KEY)
        return make_leaf(key, name, now, days, ca_key, self._files.read_ca_cert())

    def _install(
        self, key: PrivateKey, alg: Algorithm, chain: list[x509.Certificate], grace: timedelta
    ) -> str:
        """Write ``key`` + ``chain`` and commit them as current. Caller holds the lock."""
        now = self._clock.now()
        key_id = new_key_id(now, secrets.token_hex(2))
        while self._files.has_key(key_id):
            key_id = new_key_id(now, secrets.token_hex(2))
        self._files.write_signing_key(key_id, key, chain)
        old = self._files.read_state()
        retired = () if old is None else old.rotated(key_id, alg, now + grace).retired
        self._commit_pruned(StoreState(key_id, alg, retired, ca=self.has_ca()))
        return key_id

    def _commit_pruned(self, state: StoreState) -> None:
        """Write ``state`` minus expired retired keys, then delete their files."""
        live, expired = state.split_expired(self._clock.now())
        self._files.write_state(live)
        for retired in expired:
            self._files.remove_signing_key(retired.key_id)

    def _prune_quietly(self) -> None:
        try:
            with self._files.locked():
                state = self._files.read_state()
                if state is not None and state.split_expired(self._clock.now())[1]:
                    self._commit_pruned(state)
        except OSError:
            pass  # housekeeping only: the loaded keyring already ignores expired keys

    def _load_retired(
        self, retired: Retired, ca: x509.Certificate | None, mode: KidMode
    ) -> SigningKey | None:
        try:
            return self._load_key(retired.key_id, retired.alg, retired.valid_until, ca, mode)
        except FileNotFoundError:
            return None  # pruned by another process since we read keyring.json

    def _load_key(
        self,
        key_id: str,
        alg: Algorithm | None,
        valid_until: datetime | None,
        ca: x509.Certificate | None,
        kid_mode: KidMode,
    ) -> SigningKey:
        key = self._files.read_private_key(key_name(key_id))
        chain = self._files.read_chain(key_id)
        if not cert_matches_key(chain[0], key):
            where = self._files.where(crt_name(key_id))
            raise ConfigError(f"{where}: certificate does not match key")
        alg = alg or algorithm_for_key(key)
        check_key_matches(alg, key)
        if ca is not None and is_issued_by(chain[-1], ca):
            chain.append(ca)
        return SigningKey.build(
            key_id,
            alg,
            key,
            chain,
            kid_mode=kid_mode,
            created_at=key_id_time(key_id) or chain[0].not_valid_before_utc + CLOCK_SKEW,
            valid_until=valid_until,
        )

    def _created_at(self, key_id: str) -> datetime:
        created = key_id_time(key_id)
        if created is None:
            created = self._files.read_chain(key_id)[0].not_valid_before_utc + CLOCK_SKEW
        return created

    def _require_state(self) -> StoreState:
        state = self._files.read_state()
        if state is None:
            raise ConfigError(f"no signing key in {self._where}; generate one first")
        return state
