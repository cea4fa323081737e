"""Example answers of the read routes, as the OpenAPI document shows them (problem_openapi
adds each to its route's 200 response, and a text/csv example where `format=csv` is taken)."""

from typing import Any

AS_OF = {
    "log_size": 1592,
    "checkpoint": {
        "size": 1592,
        "note": "ledger.quzhou\n1592\new7u...oAw=\n\n— ledger.quzhou 137...\n",
    },
    "ahead_of_log": False,
}

ENTERPRISE = {
    "account": "ind:91330800MA2DEMO001",
    "name": "Quzhou Cement Co.",
    "industry": "C30",
    "district": "Qujiang",
    "grade": "light_green",
}
FARM = {
    "account": "agr:pig-0001",
    "name": "Farm 1",
    "kind": "pig",
    "district": "Longyou",
    "grade": "mid_green",
}
PERSONAL = {
    "opened": 2,
    "co2e_g": 2910,
    "co2e_t": "0.002910",
    "issued": 2910,
    "redeemed": 336,
}
INDUSTRIAL_ROW = {
    "city": "city",
    "enterprises": 20,
    "co2e_g": 92633387849,
    "co2e_t": "92633.387849",
    "scope3_co2e_g": 2058000,
    "scope3_co2e_t": "2.058000",
    "value_fen": 1470959480898,
    "value_yuan": "14709594808.98",
    "intensity_g_per_yuan": "6.297511",
}
AGRI_ROW = {
    "city": "city",
    "farms": 9,
    "reduction_g": 125154604,
    "reduction_t": "125.154604",
    "emission_g": 125626027,
    "emission_t": "125.626027",
}
GRADES = {"industrial": {"2026-Q3": {"city": {"light_green": 12, "yellow": 6, "red": 2}}}}
FEED_ITEM = {
    "position": 1587,
    "account": "ind:91330800MA2DEMO001",
    "kind": "grade_assigned",
    "leaf_hash": "9f2c...e1",
    "recorded_at": "2026-11-01T00:00:03.118204Z",
    "data": {
        "period": "2026-Q3",
        "grade": "yellow",
        "method": "industrial-grading@1",
        "previous_grade": "light_green",
        "cause": ["3b1a...07"],
    },
}
EXPLANATION = {
    "k": {"fraction": "8123/10000", "decimal": "0.812300"},
    "band": {"grade": "light_green", "k_max": {"fraction": "1/1", "decimal": "1.000000"}},
    "vertical": {
        "basis": "same_period_last_year",
        "intensity_g_per_yuan": "6.120000",
        "previous_intensity_g_per_yuan": "6.800000",
        "change": "-0.100000",
        "improved_permille": 50,
        "step": "improved",
        "applied": True,
    },
    "grade": "dark_green",
    "breakdown": [
        {"source": "energy:electricity", "entries": 3, "quantity": 9000000, "co2e_g": 5132700},
        {"source": "process:cement_clinker", "entries": 1, "quantity": 10000, "co2e_g": 5200},
        {"source": "output_value", "entries": 1, "value_fen": 850000000},
    ],
}
WEBHOOK = {
    "id": "3f9a1c0d5e7b2a46",
    "principal": "bank:bank01",
    "url": "https://hooks.bank01.example/carbon",
    "cursor": 1587,
    "created": "2026-12-01T09:00:00Z",
}
EXAMPLES: dict[str, Any] = {  # by path, or by "METHOD path" where a path has two
    "/v1/city/totals": {
        "period": "2026-Q3",
        "personal": {**PERSONAL, "banks": {"bank01": PERSONAL}},
        "industrial": [INDUSTRIAL_ROW],
        "agricultural": [AGRI_ROW],
        "grades": GRADES,
        "as_of": AS_OF,
    },
    "/v1/city/breakdown": {
        "period": "2026-Q3",
        "by": "district",
        "industrial": [{**INDUSTRIAL_ROW, "district": "Qujiang"}],
        "agricultural": [{**AGRI_ROW, "district": "Longyou"}],
        "grades": GRADES,
        "rows": [{"part": "industrial", **INDUSTRIAL_ROW, "district": "Qujiang"}],
        "as_of": AS_OF,
    },
    "/v1/city/series": {
        "granularity": "quarter",
        "personal": [{"period": "2026-Q3", **PERSONAL}],
        "industrial": [{"period": "2026-Q3", **INDUSTRIAL_ROW}],
        "agricultural": [{"period": "2026-Q3", **AGRI_ROW}],
        "rows": [{"part": "personal", "period": "2026-Q3", **PERSONAL}],
        "as_of": AS_OF,
    },
    "/v1/industries/{code}/benchmark": {
        "industry": "C30",
        "period": "2026-Q3",
        "enterprises": 4,
        "co2e_g": 20901194553,
        "value_fen": 287579337461,
        "as_of": AS_OF,
    },
    "/v1/persons/{pid}": {
        "pid": "mfrggzdfmztwq2lknnwg23tpobyxe43uov3ho6dzpjqwey3e",
        "points": 1520,
        "co2e_g": 1856,
        "issued": 1856,
        "redeemed": 336,
        "accounts": 2,
        "banks": ["bank01"],
        "as_of": AS_OF,
    },
    "/v1/persons/{pid}/series": {
        "pid": "mfrggzdfmztwq2lknnwg23tpobyxe43uov3ho6dzpjqwey3e",
        "granularity": "month",
        "series": [
            {"period": "2026-10", "co2e_g": 96, "co2e_t": "0.000096", "issued": 96, "redeemed": 0}
        ],
        "as_of": AS_OF,
    },
    "/v1/agri/green-list": {
        "period": "2026-Q3",
        "farms": [FARM],
        "since": "2026-Q2",
        "joined": ["agr:pig-0001"],
        "dropped": [],
        "as_of": AS_OF,
    },
    "/v1/accounts/{account_id}/grades": {
        "account": "ind:91330800MA2DEMO001",
        "grades": [
            {
                "leaf_hash": "9f2c...e1",
                "period": "2026-Q3",
                "grade": "dark_green",
                "method": "industrial-grading@1",
                "position": 1587,
                "seq": 9,
                "recorded_at": "2026-11-01T00:00:03.118204Z",
                "data": {"period": "2026-Q3", "grade": "dark_green", "co2e_g": 5137900},
                "explanation": EXPLANATION,
                "disputes": [
                    {
                        "leaf_hash": "77aa...90",
                        "reason": "the steam meter was replaced",
                        "recorded_at": "2026-11-02T08:00:00Z",
                        "evidence": ["5d41...2a"],
                        "outcome": "upheld",
                        "note": "checked",
                    }
                ],
            }
        ],
        "as_of": AS_OF,
    },
    "/v1/accounts/{account_id}/series": {
        "account": "ind:91330800MA2DEMO001",
        "granularity": "quarter",
        "series": [
            {
                "period": "2026-Q3",
                **{k: v for k, v in INDUSTRIAL_ROW.items() if k not in ("city", "enterprises")},
            }
        ],
        "as_of": AS_OF,
    },
    "/v1/enterprises": {
        "items": [ENTERPRISE],
        "next_cursor": ENTERPRISE["account"],
        "as_of": AS_OF,
    },
    "/v1/farms": {"items": [FARM], "next_cursor": None, "as_of": AS_OF},
    "/v1/banks/{bank}/accounts": {
        "items": [
            {
                "account": "per:bank01:mfrggzdfmztwq2lknnwg23tpobyxe43uov3ho6dzpjqwey3e",
                "pid": "mfrggzdfmztwq2lknnwg23tpobyxe43uov3ho6dzpjqwey3e",
                "points": 760,
                "co2e_g": 928,
                "issued": 928,
                "redeemed": 168,
                "entries": 6,
            }
        ],
        "next_cursor": None,
        "as_of": AS_OF,
    },
    "/v1/disputes": {
        "items": [
            {
                "position": 1590,
                "leaf_hash": "77aa...90",
                "account": "ind:91330800MA2DEMO001",
                "grade": "9f2c...e1",
                "reason": "the steam meter was replaced",
                "evidence": ["5d41...2a"],
                "recorded_at": "2026-11-02T08:00:00Z",
                "outcome": "upheld",
                "note": "checked",
                "decided_at": "2026-11-03T09:30:00Z",
            }
        ],
        "next_cursor": None,
        "as_of": AS_OF,
    },
    "/v1/feed": {"items": [FEED_ITEM], "next_cursor": "1587", "as_of": AS_OF},
    "/v1/accounts/{account_id}/feed": {"items": [FEED_ITEM], "next_cursor": None, "as_of": AS_OF},
    "/v1/retirements": {
        "items": [
            {
                "position": 1201,
                "leaf_hash": "c41d...9b",
                "account": "agr:grain-0003",
                "period": "2026-Q3",
                "retired_g": 150000,
                "ref": "lot-2026-0042",
                "exchange": "exchange.qzcex",
                "recorded_at": "2026-11-01T00:00:02.5Z",
            }
        ],
        "next_cursor": None,
        "as_of": AS_OF,
    },
    "POST /v1/webhooks": WEBHOOK,
    "GET /v1/webhooks": {"webhooks": [WEBHOOK]},
}
CSV_EXAMPLE = (
    "\ufeffaccount,name,industry,district,grade\r\n"
    "ind:91330800MA2DEMO001,Quzhou Cement Co.,C30,Qujiang,light_green\r\n"
)


def add_examples(path: str, method: str, operation: dict[str, Any]) -> None:
    """The route's example answer on its success response, and CSV where it offers `format`."""
    example = EXAMPLES.get(f"{method.upper()} {path}", EXAMPLES.get(path))
    if example is None:
        return
    responses = operation.setdefault("responses", {})
    status = next((code for code in ("200", "201") if code in responses), "200")
    ok = responses.setdefault(status, {"description": "OK"})
    content = ok.setdefault("content", {})
    content.setdefault("application/json", {})["example"] = example
    if any(p.get("name") == "format" for p in operation.get("parameters", [])):
        content["text/csv"] = {"schema": {"type": "string"}, "example": CSV_EXAMPLE}
