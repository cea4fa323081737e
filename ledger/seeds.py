"""Version 1 of each factor table and grading method, from shared/domain.md's proposed defaults.

These are published as entries on `sys:factors` and `sys:methods` at first start; rules
only ever read the published entries, so an authority can publish version 2 and every
later effect cites the version it used.
"""

from typing import Any

SEED_VALID_FROM = "2020-01-01"

PERSONAL_FACTORS: dict[str, Any] = {
    "g_per_point": 1,
    "behaviours": {
        "online_payment": {"co2e_g": 5, "daily_cap": 10},
        "online_transfer": {"co2e_g": 24, "daily_cap": 10},
        "e_statement": {"co2e_g": 24, "monthly_cap": 1},
        "online_bill_payment": {"co2e_g": 89, "monthly_cap": 10},
        "online_application": {"co2e_g": 89},
        "online_wealth_management": {"co2e_g": 24, "daily_cap": 5},
        "online_loan": {"co2e_g": 89, "monthly_cap": 5},
        "paperless_branch": {"co2e_g": 24, "daily_cap": 5},
    },
}

# Version 2, for an authority to publish (the demo does): behaviours beyond banking, from the
# seed gaps (Ant Forest's 80 g bus or metro trip; the rest proposed defaults), caps per person.
PERSONAL_FACTORS_V2: dict[str, Any] = {
    "g_per_point": 1,
    "behaviours": {
        **PERSONAL_FACTORS["behaviours"],
        "bus_or_metro_trip": {"co2e_g": 80, "daily_cap": 10},
        "shared_bike_trip": {"co2e_g": 50, "daily_cap": 10},
        "electricity_saved_wh": {"co2e_g": 0, "co2e_ug_per_unit": 570_300, "monthly_cap": 500_000},
        "water_saved_l": {"co2e_g": 0, "co2e_ug_per_unit": 168_000, "monthly_cap": 100_000},
        "new_energy_vehicle": {"co2e_g": 500_000, "yearly_cap": 1},
        "reusable_goods": {"co2e_g": 30, "daily_cap": 5},
    },
}
PERSONAL_FACTORS_V2_SOURCE = "domain.md seed gaps: green travel, utilities saved, NEV, reusables"

INDUSTRIAL_FACTORS: dict[str, Any] = {
    "energies": {
        "electricity": {"unit": "Wh", "co2e_ug_per_unit": 570_300},
        "steam": {"unit": "MJ", "co2e_ug_per_unit": 110_000_000},
        "natural_gas": {"unit": "L", "co2e_ug_per_unit": 2_162_000},
        "raw_coal": {"unit": "g", "co2e_ug_per_unit": 1_900_000},
        "water": {"unit": "L", "co2e_ug_per_unit": 168_000, "scope3": True},
    }
}

# Version 2, for an authority to publish (the demo does): the same energies, and process CO2
# per gram of product, IPCC 2006 defaults (domain.md's seed gaps) until the national values.
INDUSTRIAL_FACTORS_V2: dict[str, Any] = {
    **INDUSTRIAL_FACTORS,
    "products": {
        "cement_clinker": {"unit": "g", "co2e_ug_per_unit": 520_000},
        "quicklime": {"unit": "g", "co2e_ug_per_unit": 750_000},
        "flat_glass": {"unit": "g", "co2e_ug_per_unit": 210_000},
    },
}
INDUSTRIAL_FACTORS_V2_SOURCE = "v1 energies; process CO2: IPCC 2006 defaults (0.52, 0.75, 0.21 t/t)"

AGRI_FACTORS: dict[str, Any] = {
    "activities": {
        "straw_returned": {"unit": "g", "co2e_ug_per_unit": 150_000, "kind": "sink"},
        "organic_fertiliser": {"unit": "g", "co2e_ug_per_unit": 166_000, "kind": "reduction"},
        "biogas_used": {"unit": "L", "co2e_ug_per_unit": 2_000_000, "kind": "reduction"},
        "pigs_in_stock": {"unit": "head_day", "co2e_ug_per_unit": 821_917_808, "kind": "emission"},
    }
}

# Version 2, for an authority to publish (the demo does): the seed's data items per kind of
# farm; items with no factor yet are recorded with zero effect ("record").
AGRI_FACTORS_V2: dict[str, Any] = {
    "activities": {
        "planting_area": {
            "unit": "m2",
            "co2e_ug_per_unit": 0,
            "kind": "record",
            "farms": ["grain"],
        },
        "straw_produced": {
            "unit": "g",
            "co2e_ug_per_unit": 0,
            "kind": "record",
            "farms": ["grain"],
        },
        "straw_returned": {
            "unit": "g",
            "co2e_ug_per_unit": 150_000,
            "kind": "sink",
            "farms": ["grain"],
        },
        "pigs_in_stock": {
            "unit": "head_day",
            "co2e_ug_per_unit": 821_917_808,
            "kind": "emission",
            "farms": ["pig"],
        },
        "manure_produced": {"unit": "g", "co2e_ug_per_unit": 0, "kind": "record", "farms": ["pig"]},
        "biogas_used": {
            "unit": "L",
            "co2e_ug_per_unit": 2_000_000,
            "kind": "reduction",
            "farms": ["pig"],
        },
        "ecological_area": {
            "unit": "m2",
            "co2e_ug_per_unit": 0,
            "kind": "record",
            "farms": ["pig"],
        },
        "manure_treated": {
            "unit": "g",
            "co2e_ug_per_unit": 0,
            "kind": "record",
            "farms": ["fertiliser"],
        },
        "organic_fertiliser_produced": {
            "unit": "g",
            "co2e_ug_per_unit": 0,
            "kind": "record",
            "farms": ["fertiliser"],
        },
        "organic_fertiliser": {  # sold: applied in place of synthetic fertiliser
            "unit": "g",
            "co2e_ug_per_unit": 166_000,
            "kind": "reduction",
            "farms": ["fertiliser"],
        },
    }
}
AGRI_FACTORS_V2_SOURCE = "domain.md seed gaps: data items per kind of farm; v1 factors"

FACTOR_TABLES = {
    "personal-factors": (
        PERSONAL_FACTORS,
        "domain.md proposed default: g CO2e per behaviour and caps (CITIC, Ant Forest peers)",
    ),
    "industrial-factors": (
        INDUSTRIAL_FACTORS,
        "MEE notice 2023 no. 43 grid 0.5703 tCO2/MWh; national accounting guidelines defaults",
    ),
    "agri-factors": (AGRI_FACTORS, "domain.md proposed default, illustrative; DB3308/T 100-2021"),
}

GRADING_METHODS: dict[str, dict[str, Any]] = {
    "industrial-grading": {
        "bands": [
            {"grade": "dark_green", "k_max_permille": 800},
            {"grade": "light_green", "k_max_permille": 1000},
            {"grade": "yellow", "k_max_permille": 1200},
        ],
        "beyond": "red",
        "improved_permille": 50,
    },
    "agri-grading": {"dark_green_percent": 100, "mid_green_percent": 50},
}
