"""Where signing keys come from: key sources named in configuration files.

A key source is a short string, so configuration files never hold a key:

=====================  ==========================================================
source                 key
=====================  ==========================================================
``anvil:N``            anvil development account N (local chains only)
``env:NAME``           hex private key in environment variable ``NAME``
``file:PATH``          hex private key in a file (must not be readable by others)
``keystore:PATH``      encrypted JSON keystore (geth/eth-account format); the
                       password is read from ``$UNSEEN_KEYSTORE_PASSWORD``
=====================  ==========================================================
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from offchain.errors import ConfigError

KEYSTORE_PASSWORD_VARIABLE = "UNSEEN_KEYSTORE_PASSWORD"


def load_account(source: str) -> LocalAccount:
    """Return the account of a key source (see the module docstring)."""
    scheme, _, value = source.partition(":")
    if not value:
        raise ConfigError(
            f"key source {source!r} has no value; use anvil:N, env:NAME, file:PATH or keystore:PATH"
        )
    if scheme == "anvil":
        from offchain.chain.anvil import development_key

        try:
            index = int(value)
        except ValueError:
            raise ConfigError(f"key source {source!r}: anvil account index must be a number") from None
        return Account.from_key(development_key(index))
    if scheme == "env":
        key = os.environ.get(value)
        if not key:
            raise ConfigError(f"key source {source!r}: environment variable {value} is not set")
        return _from_hex(key, source)
    if scheme == "file":
        path = Path(value).expanduser()
        _check_private(path, source)
        return _from_hex(path.read_text().strip(), source)
    if scheme == "keystore":
        path = Path(value).expanduser()
        _check_private(path, source)
        password = os.environ.get(KEYSTORE_PASSWORD_VARIABLE)
        if password is None:
            raise ConfigError(
                f"key source {source!r} is encrypted: set {KEYSTORE_PASSWORD_VARIABLE} to its password"
            )
        try:
            key = Account.decrypt(json.loads(path.read_text()), password)
        except (ValueError, json.JSONDecodeError) as exc:
            raise ConfigError(f"key source {source!r}: cannot decrypt {path}: {exc}") from exc
        return Account.from_key(key)
    raise ConfigError(
        f"unknown key source scheme {scheme!r} in {source!r}; use anvil:N, env:NAME, "
        "file:PATH or keystore:PATH"
    )


def _from_hex(key: str, source: str) -> LocalAccount:
    try:
        return Account.from_key(key.strip())
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"key source {source!r} does not hold a 32-byte hex private key") from exc


def _check_private(path: Path, source: str) -> None:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ConfigError(f"key source {source!r}: {path} does not exist") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"key source {source!r}: {path} is readable by other users (mode "
            f"{stat.filemode(mode)}); run `chmod 600 {path}`"
        )
