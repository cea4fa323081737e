"""The key registry: which verifier keys may sign, with which roles; folded from `sys:keys`."""

from dataclasses import dataclass, field

from crypto.keys import KeyFormatError, Verifier, parse_verifier
from ledger.errors import Conflict, Forbidden, Invalid, Unauthenticated

REGISTRY_ACCOUNT = "sys:keys"
ROLES = frozenset(
    {
        "admin",
        "authority",
        "bank",
        "platform",
        "meter",
        "grader",
        "enterprise",
        "agri",
        "farm",
        "exchange",
    }
)


@dataclass
class RegisteredKey:
    verifier: Verifier
    roles: frozenset[str]
    revoked: bool = False


@dataclass
class KeyRegistry:
    """Keys by id (`NAME+HHHHHHHH`), as registered and revoked on `sys:keys`, and the
    ledger keys its rotations named, in order."""

    keys: dict[str, RegisteredKey] = field(default_factory=dict)
    ledger_keys: list[str] = field(default_factory=list)  # key ids
    names: dict[str, set[str]] = field(default_factory=dict)  # role -> key names (ever)
    _holders: dict[frozenset[str], frozenset[str]] = field(
        default_factory=dict, compare=False, repr=False
    )  # role_names' answers until the next registration

    def role_names(self, roles: frozenset[str]) -> frozenset[str]:
        """The names of every key that has (or had) one of `roles`."""
        found = self._holders.get(roles)
        if found is None:
            found = frozenset().union(*(self.names.get(role, set()) for role in roles))
            self._holders[roles] = found
        return found

    def authorise(self, key_id: str, roles: frozenset[str]) -> Verifier:
        """The verifier of an unrevoked key holding one of `roles`; refuse anything else."""
        registered = self.keys.get(key_id)
        if registered is None:
            raise Unauthenticated(f"key {key_id} is not registered", "submission.key")
        if registered.revoked:
            raise Forbidden(f"key {key_id} is revoked", "submission.key")
        if not registered.roles & roles:
            wanted = " or ".join(sorted(roles))
            raise Forbidden(f"key {key_id} lacks the role {wanted}", "submission.type")
        return registered.verifier

    def check_registration(self, vkey: str, roles: list[str]) -> Verifier:
        """Parse a KeyRegistered's verifier key and roles; refuse duplicates and unknown roles."""
        try:
            verifier = parse_verifier(vkey)
        except KeyFormatError as error:
            raise Invalid(f"bad verifier key: {error}", "submission.data.vkey") from None
        unknown = sorted(set(roles) - ROLES)
        if unknown or not roles:
            raise Invalid(f"roles must be some of {sorted(ROLES)}", "submission.data.roles")
        if verifier.key_id in self.keys:
            raise Conflict(f"key {verifier.key_id} is already registered", "submission.data.vkey")
        return verifier

    def check_revocation(self, key_id: str) -> None:
        """Refuse revoking a key that is unknown or already revoked."""
        registered = self.keys.get(key_id)
        if registered is None:
            raise Invalid(f"key {key_id} is not registered", "submission.data.key")
        if registered.revoked:
            raise Conflict(f"key {key_id} is already revoked", "submission.data.key")

    def check_rotation(self, vkey: str) -> Verifier:
        """Parse a LedgerKeyRotated's new key; refuse one the ledger had before."""
        try:
            verifier = parse_verifier(vkey)
        except KeyFormatError as error:
            raise Invalid(f"bad verifier key: {error}", "submission.data.vkey") from None
        if verifier.key_id in self.ledger_keys:
            raise Conflict(
                f"the ledger key was rotated to {verifier.key_id} before", "submission.data.vkey"
            )
        return verifier

    def register(self, vkey: str, roles: list[str]) -> None:
        verifier = parse_verifier(vkey)
        self.keys[verifier.key_id] = RegisteredKey(verifier, frozenset(roles))
        for role in roles:
            self.names.setdefault(role, set()).add(verifier.name)
        self._holders.clear()

    def revoke(self, key_id: str) -> None:
        self.keys[key_id].revoked = True
