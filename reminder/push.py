"""Web push: the server's VAPID key pair and the browsers each user turned push on in.

The key pair is made once, on first use, and kept in ``push_keys`` (row 1): a browser's
subscription is tied to the public key it was made with, so a new pair would end them all.
A subscription is the push service's endpoint plus the browser's two keys; a 404 or 410 from
the push service (the browser dropped it) deletes it. ``users.push_devices`` counts a user's
subscriptions (kept by triggers), which is how the channel registry tells push reaches them.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlite_utils import Database

from .db import immediate
from .errors import InputError
from .times import to_iso

MAX_DEVICES = 10  # per user: enough for every phone and computer a person has


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def vapid_keys(db: Database, now: datetime) -> tuple[str, str]:
    """(private key as PEM, public key as the browser's ``applicationServerKey``), made on first use."""
    row = db.execute("SELECT private_pem, public_key FROM push_keys WHERE id = 1").fetchone()
    if row:
        return row[0], row[1]
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    with immediate(db):
        # OR IGNORE: two processes asking at once keep the first pair, and both read it back.
        db.execute(
            "INSERT OR IGNORE INTO push_keys (id, private_pem, public_key, created_at) VALUES (1, ?, ?, ?)",
            [pem.decode(), b64url(public), to_iso(now)],
        )
    row = db.execute("SELECT private_pem, public_key FROM push_keys WHERE id = 1").fetchone()
    return row[0], row[1]


def private_key(db: Database) -> str | None:
    """The VAPID private key as PEM; None before the first browser was offered push."""
    row = db.execute("SELECT private_pem FROM push_keys WHERE id = 1").fetchone()
    return row[0] if row else None


def read_subscription(data) -> dict:
    """The endpoint and keys of a browser's ``PushSubscription.toJSON()``; InputError when malformed."""
    if not isinstance(data, dict):
        raise InputError("subscription", "Send the browser's push subscription as a JSON object.")
    endpoint, keys = data.get("endpoint"), data.get("keys")
    if not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")) or len(endpoint) > 2000:
        raise InputError("endpoint", "endpoint must be the push service's https address.")
    if not isinstance(keys, dict) or not _key(keys.get("p256dh"), 65) or not _key(keys.get("auth"), 16):
        raise InputError("keys", "keys must hold the browser's p256dh and auth keys (base64url).")
    return {"endpoint": endpoint, "p256dh": keys["p256dh"].rstrip("="), "auth": keys["auth"].rstrip("=")}


def _key(text, size: int) -> bool:
    if not isinstance(text, str) or not text.isascii() or len(text) > 100:
        return False
    try:
        return len(base64.urlsafe_b64decode(text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4))) == size
    except ValueError:
        return False


def subscribe(db: Database, user_id: int, subscription: dict, user_agent: str, now: datetime) -> None:
    """Keep ``subscription`` (from ``read_subscription``) for ``user_id`` and add push to their
    chosen channels; the same endpoint again replaces its keys (and may change hands: one browser,
    the last user who turned push on in it)."""
    with immediate(db):
        db.execute("DELETE FROM push_subscriptions WHERE endpoint = ?", [subscription["endpoint"]])
        count = db.execute("SELECT count(*) FROM push_subscriptions WHERE user_id = ?", [user_id]).fetchone()[0]
        if count >= MAX_DEVICES:
            raise InputError("subscription", f"Push is on in {MAX_DEVICES} browsers already: turn one off first.")
        db.execute(
            "INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth, user_agent, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [
                user_id,
                subscription["endpoint"],
                subscription["p256dh"],
                subscription["auth"],
                user_agent[:200],
                to_iso(now),
            ],
        )
        channels = _chosen(db, user_id)
        if "push" not in channels:
            db.execute("UPDATE users SET channels = ? WHERE id = ?", [json.dumps([*channels, "push"]), user_id])


def unsubscribe(db: Database, user_id: int, endpoint: str) -> bool:
    """Forget one of the user's browsers; when it was the last, push leaves their chosen channels.
    Return whether it was there."""
    with immediate(db):
        gone = db.execute(
            "DELETE FROM push_subscriptions WHERE user_id = ? AND endpoint = ?", [user_id, endpoint]
        ).rowcount
        left = db.execute("SELECT count(*) FROM push_subscriptions WHERE user_id = ?", [user_id]).fetchone()[0]
        channels = _chosen(db, user_id)
        if not left and "push" in channels:
            rest = [c for c in channels if c != "push"]
            db.execute("UPDATE users SET channels = ? WHERE id = ?", [json.dumps(rest) if rest else None, user_id])
    return bool(gone)


def _chosen(db: Database, user_id: int) -> list[str]:
    """The user's chosen channels as stored, with the default (SMS with a phone, else email) spelled out."""
    channels, phone = db.execute("SELECT channels, phone FROM users WHERE id = ?", [user_id]).fetchone()
    if channels:
        return json.loads(channels)
    return ["sms"] if phone else ["email"]


def subscriptions_of(db: Database, user_id: int) -> list[dict]:
    return list(
        db.query("SELECT id, endpoint, p256dh, auth FROM push_subscriptions WHERE user_id = ? ORDER BY id", [user_id])
    )


def forget(db: Database, subscription_id: int) -> None:
    """The push service said this browser is gone (404 or 410): delete it."""
    with immediate(db):
        db.execute("DELETE FROM push_subscriptions WHERE id = ?", [subscription_id])
