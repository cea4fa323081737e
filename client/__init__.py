"""What a bank or an exchange installs (`pip install carbon-ledger`, no extra): the client
that checks every receipt, proof and checkpoint it is given, and the offline verifier.
They need only `crypto/` and the ledger's pure rules (`ledger/domain/`), never the server."""

from client.ledger_client import LedgerClient, LedgerRefused
from crypto.records import Problem, Receipt
from crypto.records import signed_submission as submission  # the one submission builder

__all__ = ["LedgerClient", "LedgerRefused", "Problem", "Receipt", "submission"]
