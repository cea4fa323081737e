"""C2SP tlog-policy (quorums of witnesses) and tlog-proof files, pure: parsing every rule of
the two specs, and tampering with every part of a proof."""

import base64

import pytest

from crypto.checkpoint import Checkpoint, sign_checkpoint
from crypto.cosignature import cosign, generate_cosigner
from crypto.keys import generate_signer
from crypto.merkle import MemoryHashStore, MerkleTree, leaf_hash
from crypto.note import split_note
from crypto.policy import NONE, Policy, PolicyError, QuorumError, parse_policy
from crypto.tlog_proof import HEADER, TlogProof, TlogProofError, parse_tlog_proof

LOG = generate_signer("example.com/log")
WITNESSES = {name: generate_cosigner(f"{name}.example") for name in ("X1", "X2", "X3", "Y1", "Y2")}


def policy_text(quorum: str = "X-and-Y") -> str:
    lines = [f"log {LOG.verifier.text} https://example.com/log", ""]
    lines += [f"witness {name} {w.verifier.text}" for name, w in WITNESSES.items()]
    lines += [
        "# two organisations' witnesses",
        "group X-witnesses 2 X1 X2 X3",
        "\tgroup Y-witnesses any Y1 Y2  ",
        "group X-and-Y all X-witnesses Y-witnesses",
        f"quorum {quorum}",
    ]
    return "\n".join(lines) + "\n"


def cosigned_note(size: int, root: bytes, by: list[str]) -> str:
    note = sign_checkpoint(Checkpoint(LOG.name, size, root), LOG)
    body = split_note(note)[0]
    return note + "".join(cosign(body, WITNESSES[name], 1_764_000_000).line for name in by)


def test_the_specs_example_policy_and_its_quorum():
    policy = parse_policy(policy_text())
    assert [log.name for log in policy.logs] == [LOG.name] and len(policy.witnesses) == 5
    assert policy.groups["X-witnesses"].threshold == 2
    assert policy.groups["Y-witnesses"].threshold == 1
    assert policy.witnessed("X-and-Y", {"X1", "X3", "Y2"})
    assert not policy.witnessed("X-and-Y", {"X1", "Y1", "Y2"})  # one X is not two
    assert not policy.witnessed("X-and-Y", {"X1", "X2", "X3"})  # no Y at all
    assert policy.witnessed(NONE, set())


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("quorum none\nquorum none\n", "a second quorum"),
        ("log x\nquorum none\n", "log key"),
        ("witness a {X1}\nwitness b {X1}\nquorum a\n", "listed twice"),
        ("witness a {X1}\nwitness a {X2}\nquorum a\n", "taken"),
        ("witness none {X1}\nquorum none\n", "taken"),
        ("witness a {X1}\ngroup g 2 a\nquorum g\n", "threshold"),
        ("witness a {X1}\ngroup g 0 a\nquorum g\n", "threshold"),
        ("witness a {X1}\nwitness b {X2}\ngroup g 01 a b\nquorum g\n", "threshold"),
        ("witness a {X1}\ngroup g any a a\nquorum g\n", "twice"),
        ("group g any a\nwitness a {X1}\nquorum g\n", "defined above"),
        ("witness a {X1}\ngroup g any none\nquorum a\n", "defined above"),
        ("quorum b\n", "defined above"),
        ("witness a {X1}\n", "no quorum"),
        ("frobnicate\nquorum none\n", "not a log"),
        ("quorum none\x0b\n", "control character"),
        ("witness a {LOGKEY}\nquorum a\n", "witness a"),  # a note key is no cosignature key
    ],
)
def test_what_a_policy_file_may_not_say(text, reason):
    filled = text.replace("{X1}", WITNESSES["X1"].verifier.text)
    filled = filled.replace("{X2}", WITNESSES["X2"].verifier.text)
    filled = filled.replace("{LOGKEY}", LOG.verifier.text)
    with pytest.raises(PolicyError, match=reason):
        parse_policy(filled)


def test_a_checkpoint_is_valid_when_a_listed_log_signed_it_and_the_quorum_cosigned():
    policy = parse_policy(policy_text())
    root = leaf_hash(b"x")
    checkpoint, cosigned = policy.check(cosigned_note(1, root, ["X1", "X2", "Y1"]))
    assert checkpoint.size == 1 and cosigned == {"X1", "X2", "Y1"}
    with pytest.raises(QuorumError, match="quorum 'X-and-Y' not met"):
        policy.check(cosigned_note(1, root, ["X1", "Y1"]))
    other = generate_signer("example.com/other")
    with pytest.raises(QuorumError, match="no log for origin"):
        policy.check(sign_checkpoint(Checkpoint(other.name, 1, root), other))
    forged = cosigned_note(1, root, ["X1", "X2", "Y1"]).replace(
        "example.com/log\n1\n", "example.com/log\n2\n"
    )
    with pytest.raises(QuorumError):
        policy.check(forged)
    assert Policy.every(LOG.verifier, []).check(cosigned_note(1, root, []))[1] == set()


def _proof(size: int = 9, index: int = 5, by: tuple[str, ...] = ("X1", "X2", "Y2")) -> TlogProof:
    tree = MerkleTree(MemoryHashStore())
    entries = [f'{{"account":"per:b:{n}"}}'.encode() for n in range(size)]
    for entry in entries:
        tree.append(leaf_hash(entry))
    note = cosigned_note(size, tree.root(), list(by))
    return TlogProof(index, tuple(tree.inclusion_proof(index)), note, entries[index])


def test_a_tlog_proof_reads_back_and_verifies_under_the_policy():
    proof = _proof()
    text = proof.text()
    assert (
        text.startswith(f"{HEADER}\nextra ")
        and "\nindex 5\n" in text
        and "\n\nexample.com/log\n9\n" in text
    )
    assert parse_tlog_proof(text) == proof
    policy = parse_policy(policy_text())
    assert proof.verify(policy).size == 9
    single = _proof(size=1, index=0)  # no proof lines at all
    assert parse_tlog_proof(single.text()) == single and single.verify(policy).size == 1
    bare = TlogProof(proof.index, proof.proof, proof.checkpoint)  # no extra line
    assert "extra" not in bare.text() and parse_tlog_proof(bare.text()) == bare
    assert bare.verify(policy, data=proof.extra).size == 9
    with pytest.raises(TlogProofError, match="no leaf data"):
        bare.verify(policy)


def test_every_part_of_a_tlog_proof_is_bound():
    proof = _proof()
    policy = parse_policy(policy_text())
    for tampered in (
        TlogProof(proof.index, proof.proof, proof.checkpoint, proof.extra + b" "),
        TlogProof(proof.index + 1, proof.proof, proof.checkpoint, proof.extra),
        TlogProof(proof.index, (bytes(32), *proof.proof[1:]), proof.checkpoint, proof.extra),
    ):
        with pytest.raises(TlogProofError, match="inclusion"):
            tampered.verify(policy)
    with pytest.raises(QuorumError):
        _proof(by=("X1", "Y2")).verify(policy)
    with pytest.raises(QuorumError):
        TlogProof(
            proof.index, proof.proof, proof.checkpoint.replace("\n9\n", "\n10\n"), proof.extra
        ).verify(policy)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda t: t.replace(HEADER, "c2sp.org/tlog-proof@v2"), "first line"),
        (lambda t: t.replace("index 5", "index 05"), "index line"),
        (lambda t: t.replace("index 5", "index -5"), "index line"),
        (lambda t: t.replace("\nindex 5\n", "\n"), "index line"),
        (lambda t: t.replace("extra ", "extra !"), "extra"),
        (lambda t: t.replace("\n\n", "\n"), "empty line"),
        (lambda t: t.split("\n\n")[0] + "\n\n", "empty line"),
        (
            lambda t: t.replace(
                "index 5\n", "index 5\n" + base64.b64encode(b"short").decode() + "\n"
            ),
            "32 bytes",
        ),
    ],
)
def test_what_a_tlog_proof_file_may_not_say(change, reason):
    with pytest.raises(TlogProofError, match=reason):
        parse_tlog_proof(change(_proof().text()))
