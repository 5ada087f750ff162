"""Events (SPEC §5): registry notifications in, signed webhooks out, temporary access.

| module | what |
|---|---|
| `signature.py` | pure HMAC-SHA256 `sign` / `verify` (``t=…,v1=…``, ``sha256=…``, raw hex) |
| `outbox.py` | the durable outbox: `enqueue` in the change's transaction, leases, settling |
| `retry.py` | pure retry decision: schedule ±jitter, then dead |
| `delivery.py` | the delivery worker (one per serving process) and its metrics |
| `registry.py` | Distribution notification envelopes: parse, store once, audit |
| `approvals.py` | access requests, the signed approval callback, grants, expiry |
| `notifications.py` | the registry's ``notifications:`` block |
| `routes.py` | ``POST /events/registry``, ``POST /api/v1/webhooks/approval-response`` |
| `runtime.py` | wiring from the settings |
"""
