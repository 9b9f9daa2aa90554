"""Who is calling: a signed-in user, a guest holding a guest token, or a platform service."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass


def secret_hash(value: str) -> bytes:
    """The stored form of a bearer secret (guest token) or of a reservation's customer id.

    Guest tokens are never stored in plain text; reservations carry a customer id that may be
    a guest token, so it is kept in the same hashed form and compared hash to hash.
    """
    return hashlib.sha256(value.encode("utf-8")).digest()


@dataclass(frozen=True, slots=True)
class Caller:
    """The identity of one request, after the token (if any) was verified."""

    user_id: str | None = None
    guest_token: str | None = None
    email: str | None = None
    role: str | None = None

    @property
    def guest_token_hash(self) -> bytes | None:
        return secret_hash(self.guest_token) if self.guest_token is not None else None

    @property
    def customer_hash_of_user_and_guest(self) -> tuple[bytes | None, bytes | None]:
        """Hashes a reservation's customer id may match to be this caller's, by kind (None for
        what the caller lacks): the store passes them as two scalars, cheaper than an array."""
        user = secret_hash(self.user_id) if self.user_id is not None else None
        return user, self.guest_token_hash

    @property
    def customer_hashes(self) -> list[bytes]:
        """The same hashes, those the caller has."""
        return [value for value in self.customer_hash_of_user_and_guest if value is not None]

    @property
    def owner(self) -> tuple[str | None, bytes | None]:
        """(user_id, guest_token_hash) of the orders this caller creates: a user before a guest."""
        if self.user_id is not None:
            return self.user_id, None
        return None, self.guest_token_hash

    def owns(self, user_id: str | None, guest_token_hash: bytes | None) -> bool:
        if user_id is not None and self.user_id is not None:
            return hmac.compare_digest(user_id.encode(), self.user_id.encode())
        mine = self.guest_token_hash
        if guest_token_hash is not None and mine is not None:
            return hmac.compare_digest(guest_token_hash, mine)
        return False

    def owns_customer(self, customer_hash: bytes) -> bool:
        return any(hmac.compare_digest(customer_hash, mine) for mine in self.customer_hashes)
