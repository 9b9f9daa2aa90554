"""Who is calling: a signed-in user, a guest, an anonymous customer, or a platform service.

A caller has one identity, never two: ownership (of orders and of reservations) is always
compared against that one. Inventory's reservation `customerId` is a plain string that does not
say whether it is a user id (not secret) or a bearer credential, so mixing kinds in one
request would let a known user id stand in for a secret.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Protocol

from ordering.domain.order import WAITLIST


def secret_hash(value: str) -> bytes:
    """The stored form of a bearer secret (guest token, anonymous customer id) and of a
    reservation's customer id.

    Bearer secrets are never stored in plain text; reservations carry a customer id that may be
    one, so it is kept in the same hashed form and compared hash to hash.
    """
    return hashlib.sha256(value.encode("utf-8")).digest()


# The owner kinds, as the generated column orders.owner_key spells them (migration 0004).
USER = "user"
GUEST = "guest"
ANONYMOUS = "anonymous"


class Owned(Protocol):
    """Anything with an owner: an order, or the order that holds a seat."""

    @property
    def owner_key(self) -> str: ...

    @property
    def origin(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Caller:
    """The identity of one request, after the token (if any) was verified.

    At most one of `user_id` (a verified token's `sub`), `guest_token` and `anonymous_id` (the
    `userId` the platform's web frontend sends without a token) is set. `internal` marks a
    request of the private internal API, where the network is the trust boundary.
    """

    user_id: str | None = None
    guest_token: str | None = None
    anonymous_id: str | None = None
    email: str | None = None
    role: str | None = None
    internal: bool = False

    def __post_init__(self) -> None:
        if (self.user_id, self.guest_token, self.anonymous_id).count(None) < 2:
            raise ValueError("a caller has one identity")

    @property
    def kind(self) -> str | None:
        if self.user_id is not None:
            return USER
        if self.guest_token is not None:
            return GUEST
        if self.anonymous_id is not None:
            return ANONYMOUS
        return None

    @property
    def _credential(self) -> str | None:
        return self.user_id or self.guest_token or self.anonymous_id

    @property
    def customer_hash(self) -> bytes | None:
        """What a reservation's customer id hashes to when it is this caller's."""
        credential = self._credential
        return secret_hash(credential) if credential is not None else None

    @property
    def owner_key(self) -> str | None:
        """The owner of the orders this caller creates and reads, as orders.owner_key holds it:
        user ids in plain text, bearer secrets only as their hash, each kind in its own
        namespace (an anonymous id equal to a user's `sub` is not that user)."""
        kind, credential = self.kind, self._credential
        if kind is None or credential is None:
            return None
        if kind == USER:
            return f"{USER}:{credential}"
        return f"{kind}:{secret_hash(credential).hex()}"

    @property
    def email_owner_key(self) -> str | None:
        """The owner of the waitlist orders of the email this guest token would be: the Waitlist
        service's email, compared in lower case."""
        if self.guest_token is None:
            return None
        return f"{GUEST}:{secret_hash(self.guest_token.strip().lower()).hex()}"

    def owns(self, owned: Owned) -> bool:
        """A cart's orders belong to the one identity that made them. A waitlist order is owned
        by an email, which is no secret: only a guest token equal to it (in any case), on a
        request that names the order by its id, reaches it. So no caller lists waitlist orders
        or finds them as a cart (list_orders, cart), and an email owns nothing else."""
        mine = self.email_owner_key if owned.origin == WAITLIST else self.owner_key
        return mine is not None and hmac.compare_digest(owned.owner_key.encode(), mine.encode())

    def owns_customer(self, customer_hash: bytes) -> bool:
        mine = self.customer_hash
        return mine is not None and hmac.compare_digest(customer_hash, mine)
