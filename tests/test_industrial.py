"""Industrial accounts over HTTP, on both backends: readings, output, grades, disputes."""

from fractions import Fraction

import pytest

from api.app import create_app
from client.verifier.failure import Failure
from tests.http_support import (
    effect,
    grade_of,
    grading_run,
    ok,
    publish_version_2,
    refused,
    reverse,
    send,
)
from tests.support import audit_log, register, settle, signed

A, B, C, D = (f"ind:91330800MA{n}XXXXXXX" for n in "ABCD")  # C26 x3, C30 x1
JULY, AUGUST = ("2026-07-01", "2026-07-31"), ("2026-08-01", "2026-08-31")


@pytest.fixture
def app(node):
    return create_app(node, node.run_integrator)


@pytest.fixture
def meter(node):
    return register(node, "meter.lvnengma", ["meter"])


def record(client, signer, account, energy, quantity, unit, start, end, meter_id="M1"):
    """Submit EnergyReadingRecorded: `quantity` `unit` of `energy` from `start` to `end`."""
    data = {"energy": energy, "quantity": quantity, "unit": unit, "from": start, "to": end}
    return send(client, signer, account, "EnergyReadingRecorded", {"meter": meter_id, **data})


def report(client, signer, account, period, value_fen):
    """Submit OutputValueReported: the account's output value in quarter `period`."""
    data = {"period": period, "value_fen": value_fen}
    return send(client, signer, account, "OutputValueReported", data)


def register_enterprises(client, node):
    for account, industry in ((A, "C26"), (B, "C26"), (C, "C26"), (D, "C30")):
        enterprise = {"name": account[-8:], "industry": industry, "district": "Kecheng"}
        ok(send(client, node.authority_key, account, "EnterpriseRegistered", enterprise))


def test_readings_effects_and_refusals(client, node, meter):
    register_enterprises(client, node)
    electricity = effect(record(client, meter, A, "electricity", 1_000_000, "Wh", *JULY))
    assert electricity == {"co2e_g": 570_300, "rules": "industrial-factors@1"}
    water = effect(record(client, meter, A, "water", 1_000, "L", *JULY, meter_id="W1"))
    assert water == {"scope3_co2e_g": 168, "rules": "industrial-factors@1"}
    coal = effect(record(client, meter, A, "raw_coal", 3, "g", *JULY, meter_id="K1"))
    assert coal["co2e_g"] == 6  # 5.7 -> 6
    steam = record(client, meter, A, "steam", 1, "Wh", *JULY, meter_id="S1")
    refused(steam, 422, "submission.data.unit")
    overlapping = record(client, meter, A, "electricity", 1, "Wh", "2026-07-15", "2026-08-15")
    refused(overlapping, 409, "submission.data.from")
    backwards = record(client, meter, A, "electricity", 1, "Wh", "2026-08-15", "2026-08-01")
    refused(backwards, 422, "submission.data.from")
    future = record(client, meter, A, "electricity", 1, "Wh", "2026-08-01", "2099-01-01")
    refused(future, 422, "submission.data.to")
    negative = record(client, meter, A, "electricity", -1, "Wh", *AUGUST)
    refused(negative, 422, "submission.data.quantity")
    refused(record(client, meter, A, "nuclear", 1, "Wh", *AUGUST), 422, "submission.data.energy")
    unknown = record(client, meter, "ind:91330800MAZXXXXXXX", "electricity", 1, "Wh", *AUGUST)
    refused(unknown, 409, "submission.account")
    authority = node.authority_key
    by_authority = record(client, authority, A, "electricity", 1, "Wh", *AUGUST)
    refused(by_authority, 403, "submission.type")
    enterprise = {"name": "x", "industry": "C26", "district": "y"}
    refused(send(client, meter, A, "EnterpriseRegistered", enterprise), 403, "submission.type")
    refused(send(client, authority, A, "EnterpriseRegistered", enterprise), 409, "submission.type")
    short = send(client, authority, "ind:SHORT", "EnterpriseRegistered", enterprise)
    refused(short, 422, "submission.account")
    bad_industry = {**enterprise, "industry": "26"}
    new = "ind:91330800MAQXXXXXXX"
    refused(
        send(client, authority, new, "EnterpriseRegistered", bad_industry),
        422,
        "submission.data.industry",
    )
    # another meter may read the same period; a reversal frees the range
    assert record(client, meter, A, "electricity", 5, "Wh", *JULY, meter_id="M2").status_code == 201
    first = ok(record(client, meter, B, "natural_gas", 1_000, "L", *JULY))
    undo = effect(reverse(client, meter, B, first["leaf_hash"], "meter fault"))
    assert undo == {"reverses": first["leaf_hash"], "co2e_g": -2162, "on": "2026-07-31"}
    assert record(client, meter, B, "natural_gas", 900, "L", *JULY).status_code == 201
    again = reverse(client, meter, B, first["leaf_hash"], "again")
    refused(again, 409, "submission.data.entry")


def test_output_value_one_live_value_per_quarter(client, node, meter):
    register_enterprises(client, node)
    authority = node.authority_key
    first = ok(report(client, meter, A, "2026-Q3", 100))
    refused(report(client, authority, A, "2026-Q3", 200), 409, "submission.data.period")
    refused(report(client, meter, A, "2026", 200), 422, "submission.data.period")
    refused(report(client, meter, A, "2026-Q5", 200), 422, "submission.data.period")
    assert effect(reverse(client, meter, A, first["leaf_hash"], "typo"))["value_fen"] == -100
    replaced = effect(report(client, authority, A, "2026-Q3", 200))
    assert replaced == {"period": "2026-Q3", "value_fen": 200}


def expected_grade(co2e, value, industry_co2e, industry_value, previous):
    """An independent reading of domain.md's method, with exact fractions."""
    colours = ["dark_green", "light_green", "yellow", "red"]
    k = Fraction(co2e, value) / Fraction(industry_co2e, industry_value)
    index = 0 if k <= Fraction(8, 10) else 1 if k <= 1 else 2 if k <= Fraction(12, 10) else 3
    if previous:
        now, before = Fraction(co2e, value), Fraction(*previous)
        if now <= before * Fraction(95, 100):
            index = max(index - 1, 0)
        elif now > before:
            index = min(index + 1, 3)
    return colours[index]


def load_quarter(client, meter, period_days, figures):
    start, end = period_days
    quarter = f"{end[:4]}-Q{(int(end[5:7]) - 1) // 3 + 1}"
    for account, (wh, fen) in figures.items():
        ok(record(client, meter, account, "electricity", wh, "Wh", start, end))
        ok(report(client, meter, account, quarter, fen))


def test_grading_run_follows_the_method_and_is_idempotent(client, node, meter):
    register_enterprises(client, node)
    last_year = {A: (1_000_000, 1_000_000), B: (1_000_000, 1_000_000)}
    this_year = {
        A: (700_000, 1_000_000),
        B: (1_000_000, 900_000),
        C: (1_500_000, 1_000_000),
        D: (10, 10),
    }
    load_quarter(client, meter, ("2025-07-01", "2025-09-30"), last_year)
    load_quarter(client, meter, ("2026-07-01", "2026-09-30"), this_year)
    result = grading_run(client, node, "industrial", "2026-Q3")
    grades = {r["account"]: grade_of(r) for r in result["appended"]}
    assert set(grades) == {A, B, C, D} and result["refused"] == []
    co2e = {a: (wh * 570_300 + 500_000) // 1_000_000 for a, (wh, _) in this_year.items()}
    before = {a: (wh * 570_300 + 500_000) // 1_000_000 for a, (wh, _) in last_year.items()}
    c26_co2e = co2e[A] + co2e[B] + co2e[C]
    c26_value = sum(this_year[a][1] for a in (A, B, C))
    for account in (A, B, C):
        previous = (before[account], last_year[account][1]) if account in last_year else None
        grade = grades[account]
        assert (grade["industry_co2e_g"], grade["industry_value_fen"]) == (c26_co2e, c26_value)
        assert grade["grade"] == expected_grade(
            co2e[account], this_year[account][1], c26_co2e, c26_value, previous
        )
        assert grade["previous"] == (
            None if previous is None else {"co2e_g": previous[0], "value_fen": previous[1]}
        )
        assert grade["method"] == "industrial-grading@1" and len(grade["inputs"]) == 2
    assert grades[D]["grade"] == "light_green"  # alone in its industry: K = 1
    again = grading_run(client, node, "industrial", "2026-Q3")
    assert again["appended"] == [] and again["unchanged"] == 4
    # a correction to C changes C26's benchmark: C26 regraded, C30 unchanged
    old_inputs = grades[C]["inputs"]
    for leaf in old_inputs:  # reverse C's reading and output value, then report them again
        ok(reverse(client, meter, C, leaf, "recalibrated"))
    load_quarter(client, meter, ("2026-07-01", "2026-09-30"), {C: (900_000, 1_000_000)})
    third = grading_run(client, node, "industrial", "2026-Q3")
    assert {r["account"] for r in third["appended"]} == {A, B, C} and third["unchanged"] == 1
    regraded = grade_of(next(r for r in third["appended"] if r["account"] == C))
    assert not set(old_inputs) & set(regraded["inputs"])
    # A and B did nothing: their new grades name C's correction as the cause
    for account in (A, B):
        grade = grade_of(next(r for r in third["appended"] if r["account"] == account))
        assert grade["cause"] == sorted({*old_inputs, *regraded["inputs"]})
    assert "cause" not in regraded  # C's own figures changed: no cause to name
    unsorted = {**grade, "cause": list(reversed(grade["cause"]))}
    wire = signed(node.grader_key, B, "GradeAssigned", unsorted)
    refused(client.post("/v1/submissions", json=wire), 422, "submission.data.cause")
    settle(node)
    assert audit_log(node).grades == 7  # every benchmark and cause recomputed from the log
    # the ledger checks a grade's own figures; the audit catches what only the log can tell
    doubled = {**grade, "industry_co2e_g": 2 * grade["industry_co2e_g"]}
    doubled["industry_value_fen"] = 2 * grade["industry_value_fen"]  # the same K and colour
    ok(client.post("/v1/submissions", json=signed(node.grader_key, B, "GradeAssigned", doubled)))
    settle(node)
    with pytest.raises(Failure) as caught:
        audit_log(node)
    assert caught.value.check == "benchmark"


def test_a_cause_the_log_does_not_show_is_caught_by_the_audit(client, node, meter):
    register_enterprises(client, node)
    load_quarter(client, meter, ("2026-07-01", "2026-09-30"), {A: (700_000, 1_000_000)})
    [first] = grading_run(client, node, "industrial", "2026-Q3")["appended"]
    grade = grade_of(first)
    claimed = {**grade, "cause": [grade["inputs"][0]]}  # its own input, not another firm's
    ok(client.post("/v1/submissions", json=signed(node.grader_key, A, "GradeAssigned", claimed)))
    settle(node)
    with pytest.raises(Failure) as caught:
        audit_log(node)
    assert (caught.value.check, caught.value.field) == ("cause", "submission.data.cause")


def test_grade_refusals_and_disputes(client, node, meter):
    register_enterprises(client, node)
    load_quarter(
        client,
        meter,
        ("2026-07-01", "2026-09-30"),
        {A: (1_000_000, 1_000_000), B: (2_000_000, 1_000_000)},
    )
    result = grading_run(client, node, "industrial", "2026-Q3")
    grade_a = next(r for r in result["appended"] if r["account"] == A)
    data = grade_of(grade_a)
    grader = node.grader_key
    refused(send(client, meter, A, "GradeAssigned", data), 403, "submission.type")
    wrong = "red" if data["grade"] != "red" else "dark_green"
    for field, value in (
        ("co2e_g", data["co2e_g"] + 1),
        ("grade", wrong),
        ("inputs", data["inputs"][:1]),
        ("method", "industrial-grading@9"),
        ("period", "2026-Q2"),
    ):
        regrade = send(client, grader, A, "GradeAssigned", {**data, field: value})
        refused(regrade, 422, f"submission.data.{field}")
    code = A.split(":")[1]
    enterprise = register(node, f"ent.{code}", ["enterprise"])
    other = register(node, f"ent.{B.split(':')[1]}", ["enterprise"])
    dispute = {
        "grade": grade_a["leaf_hash"],
        "reason": "meter M1 was miscalibrated",
        "evidence": ["ab" * 32],
    }
    refused(send(client, other, A, "GradeDisputed", dispute), 403, "submission.key")
    refused(
        send(client, enterprise, A, "GradeDisputed", {**dispute, "grade": "cd" * 32}),
        422,
        "submission.data.grade",
    )
    refused(
        send(client, enterprise, A, "GradeDisputed", {**dispute, "evidence": ["xyz"]}),
        422,
        "submission.data.evidence[0]",
    )
    disputed = ok(send(client, enterprise, A, "GradeDisputed", dispute))
    again = {**dispute, "reason": "and another thing"}  # one open dispute per grade
    refused(send(client, enterprise, A, "GradeDisputed", again), 409, "submission.data.grade")
    resolution = {
        "dispute": disputed["leaf_hash"],
        "outcome": "upheld",
        "note": "recalibrate and regrade",
    }
    refused(send(client, enterprise, A, "DisputeResolved", resolution), 403, "submission.type")
    refused(
        send(
            client, node.authority_key, A, "DisputeResolved", {**resolution, "dispute": "ef" * 32}
        ),
        422,
        "submission.data.dispute",
    )
    ok(send(client, node.authority_key, A, "DisputeResolved", resolution))
    refused(
        send(client, node.authority_key, A, "DisputeResolved", resolution),
        409,
        "submission.data.dispute",
    )
    ok(send(client, enterprise, A, "GradeDisputed", again))  # resolved: it may be disputed anew


def test_grading_run_requests_are_checked(client, node, meter):
    wire = signed(
        meter, "sys:grading", "GradingRunRequested", {"kind": "industrial", "period": "2026-Q3"}
    )
    refused(client.post("/v1/grading/runs", json=wire), 403, "submission.type")
    wire = signed(
        node.authority_key,
        "sys:grading",
        "GradingRunRequested",
        {"kind": "industrial", "period": "Q3"},
    )
    refused(client.post("/v1/grading/runs", json=wire), 422, "submission.data.period")
    wire = signed(node.authority_key, "sys:keys", "KeyRevoked", {"key": meter.key_id})
    refused(client.post("/v1/grading/runs", json=wire), 422, "submission.type")
    settle(node)  # what came before is in the log, so only a recorded refusal could grow it
    runs_before = client.get("/healthz").json()["tree_size"]
    for period in ("2019", "٢٠٢٦-Q3"):  # before any grading method; not ASCII digits
        wire = signed(
            node.authority_key,
            "sys:grading",
            "GradingRunRequested",
            {"kind": "industrial", "period": period},
        )
        refused(client.post("/v1/grading/runs", json=wire), 422, "submission.data.period")
    settle(node)
    assert client.get("/healthz").json()["tree_size"] == runs_before  # refused, not recorded
    empty = grading_run(client, node, "agri", "2026-Q3")
    assert empty["appended"] == [] and empty["unchanged"] == 0


def process(client, signer, account, product, grams, start, end, unit="g"):
    data = {"product": product, "quantity": grams, "unit": unit, "from": start, "to": end}
    return send(client, signer, account, "ProcessOutputRecorded", data)


def test_process_emissions_count_in_totals_and_grades(client, node, meter):
    register_enterprises(client, node)
    # version 1 has no products: refused until the authority publishes version 2
    before = process(client, meter, D, "cement_clinker", 1_000_000, *JULY)
    refused(before, 422, "submission.data.product")
    publish_version_2(client, node, "industrial-factors")
    made = process(client, meter, D, "cement_clinker", 1_000_000, *JULY)
    assert effect(made) == {"co2e_g": 520_000, "rules": "industrial-factors@2"}  # 0.52 t/t
    assert effect(process(client, meter, D, "quicklime", 2_000, *JULY))["co2e_g"] == 1_500
    assert effect(process(client, meter, D, "flat_glass", 10, *JULY))["co2e_g"] == 2  # 2.1 g
    again = process(client, meter, D, "cement_clinker", 5, *JULY)
    refused(again, 409, "submission.data.from")
    refused(process(client, meter, D, "steel", 5, *JULY), 422, "submission.data.product")
    in_kg = process(client, meter, D, "quicklime", 5, *AUGUST, unit="kg")
    refused(in_kg, 422, "submission.data.unit")
    bank = register(node, "bank.abc", ["bank"])
    refused(process(client, bank, D, "quicklime", 5, *AUGUST), 403, "submission.type")
    electricity = effect(record(client, meter, D, "electricity", 1_000_000, "Wh", *AUGUST))
    ok(report(client, meter, D, "2026-Q3", 1_000_000))
    result = grading_run(client, node, "industrial", "2026-Q3")
    [grade] = [grade_of(r) for r in result["appended"] if r["account"] == D]
    assert grade["co2e_g"] == 520_000 + 1_500 + 2 + electricity["co2e_g"]
    assert len(grade["inputs"]) == 5  # three process outputs, a reading, the output value
    ok(reverse(client, meter, D, made.json()["leaf_hash"], "miscounted"))
    regraded = grading_run(client, node, "industrial", "2026-Q3")
    [grade] = [grade_of(r) for r in regraded["appended"] if r["account"] == D]
    assert grade["co2e_g"] == 1_500 + 2 + electricity["co2e_g"]


def test_the_vertical_comparison_may_be_a_trailing_average(client, node, meter):
    from ledger.seeds import GRADING_METHODS, SEED_VALID_FROM

    register_enterprises(client, node)
    params = {**GRADING_METHODS["industrial-grading"], "vertical": "trailing_average"}
    method = {
        "name": "industrial-grading",
        "version": 2,
        "valid_from": SEED_VALID_FROM,
        "params": {**params, "trailing_periods": 2},
    }
    ok(send(client, node.authority_key, "sys:methods", "GradingMethodPublished", method))
    load_quarter(client, meter, ("2026-01-01", "2026-03-31"), {A: (1_000_000, 1_000_000)})
    load_quarter(client, meter, ("2026-04-01", "2026-06-30"), {A: (3_000_000, 1_000_000)})
    load_quarter(client, meter, ("2026-07-01", "2026-09-30"), {A: (1_000_000, 1_000_000)})
    result = grading_run(client, node, "industrial", "2026-Q3")
    [grade] = [grade_of(r) for r in result["appended"] if r["account"] == A]
    co2e = [(wh * 570_300 + 500_000) // 1_000_000 for wh in (1_000_000, 3_000_000)]
    assert grade["method"] == "industrial-grading@2"
    assert grade["previous"] == {"co2e_g": sum(co2e), "value_fen": 2_000_000}  # Q1 and Q2
    # alone in C26 this quarter: K = 1 (light green), and L fell by half: one step greener
    assert grade["grade"] == "dark_green"
    same_period = {**grade, "previous": None}  # what last year's comparison would say
    wire = signed(node.grader_key, A, "GradeAssigned", same_period)
    refused(client.post("/v1/submissions", json=wire), 422, "submission.data.previous")


def test_evidence_documents_are_attached_by_their_key_and_read_in_scope(client, node):
    from crypto.keys import generate_signer
    from crypto.records import sign_document
    from tests.http_support import bearer, problem

    register_enterprises(client, node)
    firm = register(node, f"ent.{A[4:]}", ["enterprise"])
    rival = register(node, f"ent.{B[4:]}", ["enterprise"])
    pdf = b"%PDF-1.7 calibration certificate for meter M1\n"

    def attach(content, signer=firm, account=A, signature=None):
        header = signature or sign_document(signer, account, content)
        return client.post(
            f"/v1/accounts/{account}/documents",
            content=content,
            headers={"Document-Signature": header, "Content-Type": "application/pdf"},
        )

    made = attach(pdf)
    assert made.status_code == 201, made.text
    digest = made.json()["sha256"]
    assert attach(pdf).status_code == 200  # the same bytes: one document
    refused(attach(pdf, signer=rival), 403, "Document-Signature")
    forged = sign_document(firm, A, pdf + b"x")  # signed other bytes
    refused(attach(pdf, signature=forged), 401, "Document-Signature")
    refused(attach(pdf, signature="nonsense"), 401, "Document-Signature")
    stranger = generate_signer(f"ent.{A[4:]}")  # the name, but a key never registered
    refused(attach(pdf, signer=stranger), 401, "Document-Signature")
    problem(attach(b"x" * (1024 * 1024 + 1)), 413)
    refused(attach(b""), 422, "body")
    own = client.get(f"/v1/documents/{digest}", headers=bearer(node, f"ent:{A[4:]}"))
    assert own.status_code == 200 and own.content == pdf
    assert client.get(f"/v1/documents/{digest}", headers=bearer(node, "regulator")).content == pdf
    other = client.get(f"/v1/documents/{digest}", headers=bearer(node, f"ent:{B[4:]}"))
    refused(other, 404, "digest")
    # the same bytes attached by the rival to its own account: new to it (201, as for any
    # document it never attached: nothing says another account holds them), and its to read
    theirs = attach(pdf, signer=rival, account=B)
    assert (theirs.status_code, theirs.json()["account"]) == (201, B)
    assert attach(pdf, signer=rival, account=B).status_code == 200
    again = client.get(f"/v1/documents/{digest}", headers=bearer(node, f"ent:{B[4:]}"))
    assert again.status_code == 200 and again.content == pdf
    assert node.documents.get(digest).accounts == (A, B)
    refused(
        client.get(f"/v1/documents/{'0' * 64}", headers=bearer(node, "regulator")), 404, "digest"
    )


def test_a_file_is_created_whole_once_and_never_overwritten(tmp_path):
    from ledger.files import create_atomically

    path = tmp_path / "documents" / "d"
    assert create_atomically(path, b"first")
    assert not create_atomically(path, b"second")  # as when another process won the race
    assert path.read_bytes() == b"first" and [p.name for p in path.parent.iterdir()] == ["d"]
