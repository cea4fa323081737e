"""Who is reading: bearer token -> principal, and which accounts a principal may read."""

from dataclasses import dataclass
from typing import Annotated, cast

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.problems import TokenNotAccepted
from ledger.tokens import REGULATOR, TokenStore, parse_principal, token_id

bearer = HTTPBearer(auto_error=False, description="a token from `carbon-ledger tokens create`")


@dataclass(frozen=True)
class Principal:
    """A token's holder: the regulator, a bank, an enterprise or a farm."""

    kind: str
    code: str

    @classmethod
    def parse(cls, text: str) -> "Principal":
        return cls(*parse_principal(text))

    def can_read(self, account_id: str) -> bool:
        """Whether this principal may read `account_id`."""
        if self.kind == REGULATOR:
            return True
        if self.kind == "bank":
            return account_id.startswith(f"per:{self.code}:")
        owned = {"ent": f"ind:{self.code}", "farm": f"agr:{self.code}"}.get(self.kind)
        return account_id == owned

    def can_read_statements(self, account_id: str) -> bool:
        """Whether this principal may read `account_id`'s statements and evidence: whoever
        may read it, and an exchange any farm's (it trades what they prove)."""
        trades = self.kind == "exchange" and account_id.startswith("agr:")
        return trades or self.can_read(account_id)

    def can_read_grades(self, account_id: str) -> bool:
        """Whether this principal may read `account_id`'s grades: whoever may read the
        account, any bank those of every enterprise and farm (it lends against them), and an
        exchange every farm's (it trades what they prove)."""
        lends = self.kind == "bank" and account_id.startswith(("ind:", "agr:"))
        trades = self.kind == "exchange" and account_id.startswith("agr:")
        return lends or trades or self.can_read(account_id)


async def token_store(request: Request) -> TokenStore:
    """async, as `api.deps.node_of` is: an attribute read needs no worker thread."""
    return cast(TokenStore, request.app.state.tokens)


def principal_of(
    store: Annotated[TokenStore, Depends(token_store)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The principal of the request's `Authorization: Bearer` token; 401 if there is none."""
    if credentials is None:
        raise TokenNotAccepted("send Authorization: Bearer <token>")
    principal = store.principal_for(credentials.credentials)
    if principal is None:
        raise TokenNotAccepted("the bearer token is unknown or revoked")
    return Principal.parse(principal)


PrincipalDep = Annotated[Principal, Depends(principal_of)]


def token_id_of(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> str:
    """The id of the request's bearer token ("" without one)."""
    return "" if credentials is None else token_id(credentials.credentials)


TokenIdDep = Annotated[str, Depends(token_id_of)]


def optional_principal_of(
    store: Annotated[TokenStore, Depends(token_store)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal | None:
    """The principal of a token if one is sent (401 if it is not accepted), else None: public
    answers say more to a principal whose scope covers it."""
    return None if credentials is None else principal_of(store, credentials)


OptionalPrincipalDep = Annotated[Principal | None, Depends(optional_principal_of)]
