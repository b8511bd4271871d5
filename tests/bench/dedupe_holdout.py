"""Hold-out evaluation of the router's "same person or not" decisions.

Written without reading the match rules (dedupe.py) or the repo's own dedupe bench.
Builds a labelled set of submissions (hand-written people plus a small seeded generator),
normalizes each through the ingest validator (as the router receives it), feeds them in
time order through ``services.router.domain.intake.decide_batch`` in batches of ~20, folds
each BatchOutcome back into an in-memory store the way services/router/intake/batch.py
loads and applies state, and reports pairwise precision / recall / F1, the review share, a
per-variant table and every false merge / missed same-person pair.

Run:  python -m tests.bench.dedupe_holdout
The full listing is written to tests/bench/results/dedupe-holdout.txt.
"""

# ruff: noqa: RUF001 -- people's names in their own alphabets (Turkish dotless i, Cyrillic)

from __future__ import annotations

import itertools
import random
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import phonenumbers
from anyascii import anyascii

from services.ingest.leads.schemas import validate_lead
from services.router.domain.assignment import Rep, RoutingRule, Team
from services.router.domain.dedupe import MatchPolicy
from services.router.domain.intake import (
    Arrival,
    BatchState,
    Config,
    LeadRow,
    ShowRef,
    decide_batch,
)
from services.router.domain.matching import Candidate
from services.router.domain.scoring import load_scoring_rules

ROOT = Path(__file__).resolve().parents[2]
SEED = 20261202
rng = random.Random(SEED)
BATCH = 20
T0 = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)

# the router's defaults (services/router/settings.py -> RouterContext.match_policy)
POLICY = MatchPolicy(
    merge_at=0.9,
    review_at=0.6,
    shared_after=3,
    name_similarity=88.0,
    company_similarity=90.0,
    company_near=80.0,
)

# --------------------------------------------------------------------------------------
# reference data
# --------------------------------------------------------------------------------------


@dataclass
class Company:
    key: str
    name: str
    domain: str
    country: str
    variants: list[str] = field(default_factory=list)  # the same company written differently
    sub: str | None = None  # a subdomain people also use
    fmt: str = "first.last"  # work address format
    switchboard: str | None = None
    industry: str = "Software"
    size: str = "201-500"


COMPANIES = [
    # GB
    Company(
        "northgate",
        "Northgate Logistics Ltd",
        "northgate-logistics.co.uk",
        "GB",
        [],
        "shop.northgate-logistics.co.uk",
        "first.last",
        industry="Logistics",
    ),
    Company(
        "brightwave",
        "Brightwave Media Ltd",
        "brightwave.co.uk",
        "GB",
        [],
        "uk.brightwave.co.uk",
        "flast",
        industry="Media",
    ),
    Company(
        "harrisoncole",
        "Harrison & Cole LLP",
        "harrisoncole.co.uk",
        "GB",
        [],
        None,
        "first.last",
        industry="Legal",
    ),
    Company(
        "pennine",
        "Pennine Software Ltd",
        "penninesoftware.co.uk",
        "GB",
        [],
        "mail.penninesoftware.co.uk",
        "first",
    ),
    Company(
        "thamesvalley", "Thames Valley Analytics Ltd", "tvanalytics.co.uk", "GB", [], None, "f.last"
    ),
    # US
    Company(
        "brightline",
        "Brightline Analytics, Inc.",
        "brightline.io",
        "US",
        [],
        "app.brightline.io",
        "first",
    ),
    Company(
        "cobalt",
        "Cobalt Robotics Inc.",
        "cobaltrobotics.com",
        "US",
        [],
        "eu.cobaltrobotics.com",
        "first.last",
        industry="Manufacturing",
    ),
    Company(
        "smithsons",
        "Smith & Sons Inc.",
        "smithandsons.com",
        "US",
        [],
        None,
        "first.last",
        industry="Construction",
        size="51-200",
    ),
    Company(
        "redwood",
        "Redwood Health Corp.",
        "redwoodhealth.com",
        "US",
        [],
        "portal.redwoodhealth.com",
        "flast",
        industry="Healthcare",
    ),
    Company(
        "lakeshore",
        "Lakeshore Capital LLC",
        "lakeshorecap.com",
        "US",
        [],
        None,
        "first.last",
        industry="Finance",
    ),
    Company(
        "summit",
        "Summit Cloud Corporation",
        "summitcloud.com",
        "US",
        [],
        "emea.summitcloud.com",
        "firstlast",
    ),
    Company(
        "millerroof",
        "Miller Roofing Co.",
        "millerroofing.com",
        "US",
        [],
        None,
        "first.last",
        industry="Construction",
        size="11-50",
    ),
    Company(
        "novakdental",
        "Novak Family Dental",
        "novakdental.com",
        "US",
        [],
        None,
        "first",
        industry="Healthcare",
        size="11-50",
    ),
    # IE / CA
    Company(
        "liffey",
        "Liffey Payments Ltd",
        "liffeypay.ie",
        "IE",
        [],
        None,
        "first.last",
        industry="Finance",
    ),
    Company(
        "mapleleaf",
        "Maple Leaf Robotics Inc.",
        "mapleleafrobotics.ca",
        "CA",
        [],
        None,
        "first.last",
        industry="Manufacturing",
    ),
    # AU
    Company(
        "koala",
        "Koala Logistics Pty Ltd",
        "koalalogistics.com.au",
        "AU",
        [],
        "shop.koalalogistics.com.au",
        "first.last",
        industry="Logistics",
    ),
    Company(
        "southerncross",
        "Southern Cross Mining Pty Ltd",
        "scmining.com.au",
        "AU",
        [],
        None,
        "flast",
        industry="Mining",
    ),
    Company(
        "harbour",
        "Harbour Bridge Consulting Pty Ltd",
        "hbconsulting.com.au",
        "AU",
        [],
        None,
        "first.last",
        industry="Consulting",
    ),
    # DE / AT / CH
    Company(
        "mueller",
        "Müller Maschinenbau GmbH",
        "mueller-maschinenbau.de",
        "DE",
        [],
        "shop.mueller-maschinenbau.de",
        "first.last",
        industry="Manufacturing",
    ),
    Company(
        "schwarzwald",
        "Schwarzwald Solar AG",
        "schwarzwald-solar.de",
        "DE",
        [],
        None,
        "flast",
        industry="Energy",
    ),
    Company(
        "rheinlog",
        "Rheinland Logistik GmbH",
        "rheinlog.de",
        "DE",
        [],
        None,
        "first.last",
        industry="Logistics",
    ),
    Company(
        "koelner", "Kölner Datentechnik GmbH", "koelner-datentechnik.de", "DE", [], None, "f.last"
    ),
    Company(
        "weber",
        "Weber Holzbau GmbH",
        "weber-holzbau.de",
        "DE",
        [],
        None,
        "first",
        industry="Construction",
        size="11-50",
    ),
    Company(
        "alpenblick", "Alpenblick Software GmbH", "alpenblick.at", "AT", [], None, "first.last"
    ),
    Company(
        "helvetia",
        "Helvetia Präzision AG",
        "helvetia-praezision.ch",
        "CH",
        [],
        None,
        "first.last",
        industry="Manufacturing",
    ),
    # ES / MX / IT / BR
    Company(
        "ibericas",
        "Soluciones Ibéricas S.A.",
        "solucionesibericas.es",
        "ES",
        [],
        None,
        "first.last",
    ),
    Company(
        "penalara",
        "Grupo Peñalara S.L.",
        "penalara.es",
        "ES",
        [],
        None,
        "flast",
        industry="Consulting",
    ),
    Company(
        "tecnorte",
        "Tecnologías del Norte S.A. de C.V.",
        "tecnorte.com.mx",
        "MX",
        [],
        None,
        "first.last",
    ),
    Company(
        "rossi",
        "Rossi Alimentari S.r.l.",
        "rossialimentari.it",
        "IT",
        [],
        None,
        "first",
        industry="Food",
        size="51-200",
    ),
    Company(
        "mendes",
        "Mendes & Filhos Ltda.",
        "mendesfilhos.com.br",
        "BR",
        [],
        None,
        "first.last",
        industry="Construction",
        size="51-200",
    ),
    # FR / NL
    Company(
        "lumiere",
        "Lumière Conseil SARL",
        "lumiere-conseil.fr",
        "FR",
        [],
        None,
        "first.last",
        industry="Consulting",
    ),
    Company(
        "breval",
        "Bréval & Fils S.A.",
        "breval.fr",
        "FR",
        [],
        None,
        "flast",
        industry="Manufacturing",
    ),
    Company(
        "vdberg",
        "Van der Berg & Zonen B.V.",
        "vdberg.nl",
        "NL",
        [],
        None,
        "first.last",
        industry="Logistics",
    ),
    # PL / CZ
    Company("wisla", "Wisła Tech Sp. z o.o.", "wislatech.pl", "PL", [], None, "first.last"),
    Company("krakow", "Kraków Data S.A.", "krakowdata.pl", "PL", [], None, "flast"),
    Company("vltava", "Vltava Systems s.r.o.", "vltava.cz", "CZ", [], None, "first.last"),
    Company(
        "novakstavby",
        "Novák Stavby s.r.o.",
        "novakstavby.cz",
        "CZ",
        [],
        None,
        "first",
        industry="Construction",
        size="11-50",
    ),
    # Nordics
    Company("nordlys", "Nordlys ApS", "nordlys.dk", "DK", [], None, "first"),
    Company(
        "ostersjo",
        "Östersjö Marin AB",
        "ostersjomarin.se",
        "SE",
        [],
        None,
        "first.last",
        industry="Marine",
    ),
    Company("fjord", "Fjord Digital AS", "fjorddigital.no", "NO", [], None, "first.last"),
    # RU / GR / TR
    Company("volga", "Volga Systems LLC", "volgasys.ru", "RU", [], None, "flast"),
    Company("baltika", "Baltika Soft", "baltikasoft.ru", "RU", [], None, "first.last"),
    Company(
        "aegean",
        "Aegean Shipping S.A.",
        "aegeanshipping.gr",
        "GR",
        [],
        None,
        "flast",
        industry="Marine",
    ),
    Company("hellenic", "Hellenic Data Systems", "hellenicdata.gr", "GR", [], None, "first.last"),
    Company(
        "anadolu", "Anadolu Yazılım A.Ş.", "anadoluyazilim.com.tr", "TR", [], None, "first.last"
    ),
    # CN / SG
    Company(
        "jaderiver",
        "Jade River Technology Co., Ltd.",
        "jaderiver.com.cn",
        "CN",
        [],
        None,
        "firstlast",
        industry="Electronics",
    ),
    Company(
        "goldenlotus",
        "Golden Lotus Electronics Co., Ltd.",
        "goldenlotus.com.cn",
        "CN",
        [],
        None,
        "firstlast",
        industry="Electronics",
    ),
    Company(
        "pearldelta",
        "Pearl Delta Trading Co., Ltd.",
        "pearldelta.com.cn",
        "CN",
        [],
        None,
        "flast",
        industry="Retail",
    ),
    Company(
        "lioncity",
        "Lion City Fintech Pte. Ltd.",
        "lioncityfintech.com.sg",
        "SG",
        [],
        None,
        "first.last",
        industry="Finance",
    ),
]
# the same company written differently, by kind of difference
CO_VARIANTS: dict[str, list[tuple[str, str]]] = {
    "northgate": [
        ("legal_form", "Northgate Logistics Limited"),
        ("upper_case", "NORTHGATE LOGISTICS LTD"),
        ("legal_form", "Northgate Logistics"),
    ],
    "brightwave": [("legal_form", "Brightwave Media Limited"), ("upper_case", "BRIGHTWAVE MEDIA")],
    "harrisoncole": [
        ("ampersand", "Harrison and Cole LLP"),
        ("upper_case", "HARRISON & COLE"),
        ("legal_form", "Harrison & Cole"),
    ],
    "pennine": [("legal_form", "Pennine Software Limited"), ("upper_case", "PENNINE SOFTWARE")],
    "thamesvalley": [
        ("legal_form", "Thames Valley Analytics"),
        ("upper_case", "THAMES VALLEY ANALYTICS LTD."),
    ],
    "brightline": [
        ("legal_form", "Brightline Analytics"),
        ("upper_case", "BRIGHTLINE ANALYTICS INC"),
    ],
    "cobalt": [("legal_form", "Cobalt Robotics"), ("upper_case", "COBALT ROBOTICS, INC.")],
    "smithsons": [
        ("ampersand", "Smith and Sons Inc."),
        ("legal_form", "Smith & Sons"),
        ("upper_case", "SMITH AND SONS INC"),
    ],
    "redwood": [("legal_form", "Redwood Health Corporation"), ("legal_form", "Redwood Health")],
    "lakeshore": [("legal_form", "Lakeshore Capital"), ("upper_case", "LAKESHORE CAPITAL, LLC")],
    "summit": [("legal_form", "Summit Cloud Corp"), ("spacing", "SummitCloud")],
    "millerroof": [("legal_form", "Miller Roofing"), ("legal_form", "Miller Roofing Company")],
    "novakdental": [
        ("legal_form", "Novak Family Dental LLC"),
        ("upper_case", "NOVAK FAMILY DENTAL"),
    ],
    "liffey": [("legal_form", "Liffey Payments Limited")],
    "mapleleaf": [
        ("legal_form", "Maple Leaf Robotics"),
        ("upper_case", "MAPLE LEAF ROBOTICS INC."),
    ],
    "koala": [("legal_form", "Koala Logistics"), ("upper_case", "KOALA LOGISTICS PTY. LTD.")],
    "southerncross": [
        ("legal_form", "Southern Cross Mining"),
        ("upper_case", "SOUTHERN CROSS MINING PTY LTD"),
    ],
    "harbour": [
        ("legal_form", "Harbour Bridge Consulting"),
        ("upper_case", "HARBOUR BRIDGE CONSULTING"),
    ],
    "mueller": [
        ("diacritic", "Mueller Maschinenbau GmbH"),
        ("upper_case", "MÜLLER MASCHINENBAU GMBH"),
        ("legal_form", "Müller Maschinenbau GmbH & Co. KG"),
    ],
    "schwarzwald": [
        ("legal_form", "Schwarzwald Solar"),
        ("upper_case", "SCHWARZWALD SOLAR AG"),
        ("spacing", "Schwarzwald-Solar AG"),
    ],
    "rheinlog": [("legal_form", "Rheinland Logistik"), ("upper_case", "RHEINLAND LOGISTIK GMBH")],
    "koelner": [("diacritic", "Koelner Datentechnik GmbH"), ("legal_form", "Kölner Datentechnik")],
    "weber": [("legal_form", "Weber Holzbau"), ("upper_case", "WEBER HOLZBAU GMBH")],
    "alpenblick": [
        ("legal_form", "Alpenblick Software"),
        ("upper_case", "ALPENBLICK SOFTWARE GMBH"),
    ],
    "helvetia": [("diacritic", "Helvetia Praezision AG"), ("legal_form", "Helvetia Präzision")],
    "ibericas": [
        ("legal_form", "Soluciones Ibericas SA"),
        ("upper_case", "SOLUCIONES IBÉRICAS S.A."),
        ("legal_form", "Soluciones Ibéricas"),
    ],
    "penalara": [("legal_form", "Grupo Penalara"), ("upper_case", "GRUPO PEÑALARA SL")],
    "tecnorte": [
        ("legal_form", "Tecnologias del Norte"),
        ("upper_case", "TECNOLOGÍAS DEL NORTE SA DE CV"),
    ],
    "rossi": [("legal_form", "Rossi Alimentari"), ("upper_case", "ROSSI ALIMENTARI SRL")],
    "mendes": [
        ("local_conjunction", "Mendes e Filhos Ltda."),
        ("upper_case", "MENDES & FILHOS LTDA"),
    ],
    "lumiere": [("legal_form", "Lumiere Conseil"), ("upper_case", "LUMIÈRE CONSEIL")],
    "breval": [
        ("legal_form", "Breval & Fils"),
        ("local_conjunction", "Bréval et Fils S.A."),
        ("upper_case", "BRÉVAL & FILS SA"),
    ],
    "vdberg": [
        ("local_conjunction", "Van der Berg en Zonen B.V."),
        ("ampersand", "Van der Berg and Zonen"),
        ("upper_case", "VAN DER BERG & ZONEN BV"),
    ],
    "wisla": [("legal_form", "Wisla Tech"), ("upper_case", "WISŁA TECH SP. Z O.O.")],
    "krakow": [("legal_form", "Krakow Data"), ("upper_case", "KRAKÓW DATA SA")],
    "vltava": [("legal_form", "Vltava Systems"), ("upper_case", "VLTAVA SYSTEMS S.R.O.")],
    "novakstavby": [("legal_form", "Novak Stavby"), ("upper_case", "NOVÁK STAVBY S.R.O.")],
    "nordlys": [("legal_form", "Nordlys"), ("upper_case", "NORDLYS APS")],
    "ostersjo": [("legal_form", "Ostersjo Marin"), ("upper_case", "ÖSTERSJÖ MARIN AB")],
    "fjord": [("legal_form", "Fjord Digital"), ("upper_case", "FJORD DIGITAL AS")],
    "volga": [
        ("legal_form", "Volga Systems"),
        ("other_script", "ООО «Волга Системс»"),
        ("upper_case", "VOLGA SYSTEMS"),
    ],
    "baltika": [("legal_form", "Baltika Soft LLC"), ("other_script", "Балтика Софт")],
    "aegean": [("legal_form", "Aegean Shipping"), ("upper_case", "AEGEAN SHIPPING SA")],
    "hellenic": [
        ("legal_form", "Hellenic Data Systems S.A."),
        ("upper_case", "HELLENIC DATA SYSTEMS"),
    ],
    "anadolu": [("legal_form", "Anadolu Yazilim"), ("upper_case", "ANADOLU YAZILIM AŞ")],
    "jaderiver": [
        ("legal_form", "Jade River Technology"),
        ("upper_case", "JADE RIVER TECHNOLOGY CO LTD"),
        ("abbreviation", "Jade River Tech"),
    ],
    "goldenlotus": [
        ("legal_form", "Golden Lotus Electronics"),
        ("upper_case", "GOLDEN LOTUS ELECTRONICS"),
    ],
    "pearldelta": [
        ("legal_form", "Pearl Delta Trading"),
        ("upper_case", "PEARL DELTA TRADING CO., LTD"),
    ],
    "lioncity": [("legal_form", "Lion City Fintech"), ("upper_case", "LION CITY FINTECH PTE LTD")],
}
for _c in COMPANIES:
    _c.variants = [v for _, v in CO_VARIANTS[_c.key]]
CO = {c.key: c for c in COMPANIES}

NICKNAMES = {
    "Robert": ["Bob", "Rob", "Bobby"],
    "William": ["Bill", "Will"],
    "Elizabeth": ["Liz", "Beth", "Lizzie"],
    "Margaret": ["Peggy", "Maggie", "Meg"],
    "Richard": ["Dick", "Rick", "Rich"],
    "Katherine": ["Kate", "Katie", "Kathy"],
    "Alexander": ["Alex"],
    "Jennifer": ["Jen", "Jenny"],
}

EN_FIRST = [
    "Michael",
    "Sarah",
    "David",
    "Emma",
    "James",
    "Olivia",
    "Thomas",
    "Laura",
    "Daniel",
    "Rachel",
    "Christopher",
    "Hannah",
    "Matthew",
    "Sophie",
    "Andrew",
    "Claire",
    "Steven",
    "Natalie",
    "Jonathan",
    "Rebecca",
    "Patrick",
    "Fiona",
    "Gregory",
    "Melissa",
    "Timothy",
    "Amanda",
    "Nathan",
    "Victoria",
    "Brian",
    "Helen",
    "Kevin",
    "Lucy",
    "Simon",
    "Grace",
]
EN_LAST = [
    "Thompson",
    "Harrison",
    "Mitchell",
    "Crawford",
    "Bennett",
    "Fletcher",
    "Sullivan",
    "Gallagher",
    "Whitaker",
    "Donovan",
    "Pemberton",
    "Hughes",
    "Lawson",
    "Carter",
    "Brooks",
    "Sanders",
    "Foster",
    "Reynolds",
    "Palmer",
    "Walsh",
    "Kennedy",
    "Fitzgerald",
    "Morrison",
    "Caldwell",
    "Henderson",
    "Sutherland",
    "Barrett",
    "Holloway",
    "Chambers",
    "Whitfield",
    "Abernathy",
    "Galloway",
    "Prescott",
    "Radcliffe",
    "Ashworth",
    "Blackwood",
]
POOLS = {
    "EN": (EN_FIRST, EN_LAST),
    "DE": (
        [
            "Stefan",
            "Katrin",
            "Andreas",
            "Sabine",
            "Matthias",
            "Julia",
            "Tobias",
            "Anja",
            "Florian",
            "Birgit",
            "Lukas",
            "Markus",
            "Lena",
            "Ralf",
            "Ute",
            "Dirk",
        ],
        [
            "Schröder",
            "Hoffmann",
            "Wagner",
            "Becker",
            "Zimmermann",
            "Krüger",
            "Neumann",
            "Schmitt",
            "Fuchs",
            "Braun",
            "Vogel",
            "Jäger",
            "Günther",
            "Böhm",
            "Hartmann",
            "Lange",
        ],
    ),
    "ES": (
        [
            "María",
            "Sofía",
            "Jesús",
            "Álvaro",
            "Andrés",
            "Lucía",
            "Carmen",
            "Javier",
            "Pilar",
            "Diego",
        ],
        [
            "Rodríguez",
            "Fernández",
            "López",
            "Martínez",
            "Sánchez",
            "Pérez",
            "Gómez",
            "Jiménez",
            "Peña",
            "Ibáñez",
            "Ortega",
            "Castillo",
        ],
    ),
    "FR": (
        ["Jérôme", "Céline", "Amélie", "Stéphane", "Loïc", "Camille", "Nicolas", "Élodie"],
        ["Dubois", "Mercier", "Girard", "Fournier", "Rousseau", "Chevalier", "Bonnet", "Lambert"],
    ),
    "PL": (
        ["Wojciech", "Agnieszka", "Michał", "Józef", "Bożena", "Grzegorz", "Katarzyna", "Tomasz"],
        [
            "Kowalski",
            "Lewandowski",
            "Kamiński",
            "Zieliński",
            "Szymański",
            "Kozłowski",
            "Jankowski",
            "Mazur",
        ],
    ),
    "NORD": (
        ["Mikkel", "Frida", "Ingrid", "Lars", "Sven", "Karin", "Henrik", "Maja"],
        ["Lindqvist", "Håkansson", "Andersen", "Berg", "Dahl", "Eriksson", "Holm", "Larsen"],
    ),
    "IT": (
        ["Giulia", "Luca", "Chiara", "Marco", "Alessandro", "Federica"],
        ["Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco"],
    ),
    "PT": (
        ["João", "Ana", "Pedro", "Beatriz", "Rafael", "Larissa"],
        ["Silva", "Santos", "Oliveira", "Souza", "Costa", "Almeida"],
    ),
    "CZ": (
        ["Petr", "Lucie", "Tomáš", "Kateřina", "Martin", "Tereza"],
        ["Svoboda", "Černý", "Procházka", "Kučera", "Veselý", "Horák"],
    ),
    "TR": (
        ["Mehmet", "Elif", "Emre", "Zeynep", "Gökhan", "Çağrı"],
        ["Yılmaz", "Kaya", "Demir", "Şahin", "Çelik", "Aydın"],
    ),
    "CN": (
        [
            "Wei",
            "Jing",
            "Xiaoming",
            "Yong",
            "Hui",
            "Min",
            "Lei",
            "Fang",
            "Jun",
            "Tao",
            "Ying",
            "Hao",
        ],
        ["Wang", "Li", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu", "Sun", "Zhu"],
    ),
    "RU": (
        ["Ivan", "Olga", "Pavel", "Irina", "Mikhail", "Anna"],
        ["Petrov", "Smirnov", "Popov", "Volkov", "Morozov", "Lebedev"],
    ),
    "GR": (
        ["Nikos", "Maria", "Yannis", "Sofia", "Christos", "Anna"],
        ["Georgiou", "Pappas", "Karagiannis", "Alexiou", "Dimas", "Markou"],
    ),
}
COUNTRY_POOL = {
    "GB": "EN",
    "US": "EN",
    "AU": "EN",
    "IE": "EN",
    "CA": "EN",
    "DE": "DE",
    "AT": "DE",
    "CH": "DE",
    "ES": "ES",
    "MX": "ES",
    "FR": "FR",
    "NL": "EN",
    "PL": "PL",
    "DK": "NORD",
    "SE": "NORD",
    "NO": "NORD",
    "IT": "IT",
    "BR": "PT",
    "CZ": "CZ",
    "TR": "TR",
    "CN": "CN",
    "SG": "CN",
    "RU": "RU",
    "GR": "GR",
}
FREEMAIL = {
    "US": ["gmail.com", "outlook.com", "yahoo.com", "hotmail.com"],
    "GB": ["gmail.com", "outlook.com", "yahoo.co.uk", "hotmail.com"],
    "DE": ["gmail.com", "web.de", "gmx.de", "outlook.com"],
    "AT": ["gmail.com", "gmx.de", "web.de"],
    "CH": ["gmail.com", "gmx.de"],
}
DEFAULT_FREEMAIL = ["gmail.com", "outlook.com", "yahoo.com", "hotmail.com"]

# (diacritic form, [ascii / transliterated forms]) with the company they work at
DIACRITIC_PEOPLE = [
    (("Jürgen", "Müller"), [("Juergen", "Mueller"), ("Jurgen", "Muller")], "mueller"),
    (("José", "García"), [("Jose", "Garcia")], "ibericas"),
    (("Łukasz", "Wiśniewski"), [("Lukasz", "Wisniewski")], "wisla"),
    (("Søren", "Jørgensen"), [("Soren", "Jorgensen"), ("Soeren", "Joergensen")], "nordlys"),
    (("Zoë", "Thompson"), [("Zoe", "Thompson")], "brightwave"),
    (("François", "Lefèvre"), [("Francois", "Lefevre")], "lumiere"),
    (("Åsa", "Nyström"), [("Asa", "Nystrom"), ("Aasa", "Nystroem")], "ostersjo"),
    (("Małgorzata", "Dąbrowska"), [("Malgorzata", "Dabrowska")], "krakow"),
    (("Ayşe", "Öztürk"), [("Ayse", "Ozturk"), ("Ayse", "Oeztuerk")], "anadolu"),
    (("Antonín", "Dvořák"), [("Antonin", "Dvorak")], "vltava"),
    (("Bjørn", "Løvgren"), [("Bjorn", "Lovgren"), ("Bjoern", "Loevgren")], "fjord"),
    (("Hélène", "Bérenger"), [("Helene", "Berenger")], "breval"),
    (("Stefan", "Groß"), [("Stefan", "Gross")], "koelner"),
    (("Inés", "Núñez"), [("Ines", "Nunez")], "penalara"),
    (("Sophie", "Köhler"), [("Sophie", "Koehler"), ("Sophie", "Kohler")], "helvetia"),
    (("Raúl", "Muñoz"), [("Raul", "Munoz")], "tecnorte"),
    (("Gaëlle", "Lemaître"), [("Gaelle", "Lemaitre")], "lumiere"),
    (("Paweł", "Woźniak"), [("Pawel", "Wozniak")], "wisla"),
    (("Thomas", "Müller"), [("Thomas", "Mueller"), ("Thomas", "Muller")], "rheinlog"),
    (("Zoë", "van Dijk"), [("Zoe", "van Dijk")], "vdberg"),
]

# (native script, [Latin renderings]) with the company
TRANSLIT_PEOPLE = [
    (
        ("Дмитрий", "Иванов"),
        [("Dmitry", "Ivanov"), ("Dmitrii", "Ivanov"), ("Dmitriy", "Ivanov")],
        "volga",
    ),
    (
        ("Юлия", "Кузнецова"),
        [("Yulia", "Kuznetsova"), ("Iuliia", "Kuznetsova"), ("Julia", "Kuznetsova")],
        "volga",
    ),
    (
        ("Сергей", "Воробьёв"),
        [("Sergey", "Vorobyov"), ("Sergei", "Vorobiev"), ("Sergej", "Vorobjov")],
        "baltika",
    ),
    (
        ("Алексей", "Щербаков"),
        [("Alexey", "Shcherbakov"), ("Aleksei", "Shcherbakov"), ("Alexei", "Scherbakov")],
        "baltika",
    ),
    (
        ("Наталья", "Фёдорова"),
        [("Natalya", "Fedorova"), ("Natalia", "Fyodorova"), ("Natalja", "Fedorova")],
        "volga",
    ),
    (
        ("Евгений", "Соловьёв"),
        [("Evgeny", "Solovyov"), ("Yevgeniy", "Soloviev"), ("Evgenii", "Solovev")],
        "baltika",
    ),
    (("Олександр", "Шевченко"), [("Oleksandr", "Shevchenko"), ("Olexandr", "Shevchenko")], "wisla"),
    (
        ("Γιώργος", "Παπαδόπουλος"),
        [("Giorgos", "Papadopoulos"), ("Georgios", "Papadopoulos"), ("Yiorgos", "Papadopoulos")],
        "aegean",
    ),
    (
        ("Δημήτρης", "Οικονόμου"),
        [("Dimitris", "Oikonomou"), ("Dimitrios", "Ikonomou"), ("Dimitris", "Economou")],
        "hellenic",
    ),
    (
        ("Κωνσταντίνος", "Χατζηδάκης"),
        [("Konstantinos", "Chatzidakis"), ("Konstantinos", "Hatzidakis")],
        "aegean",
    ),
    (("Ελένη", "Βασιλείου"), [("Eleni", "Vasileiou"), ("Eleni", "Vassiliou")], "hellenic"),
    (("Αικατερίνη", "Νικολάου"), [("Aikaterini", "Nikolaou"), ("Ekaterini", "Nikolaou")], "aegean"),
]

QWERTY = {
    "q": "wa",
    "w": "qes",
    "e": "wrd",
    "r": "etf",
    "t": "ryg",
    "y": "tuh",
    "u": "yij",
    "i": "uok",
    "o": "ipl",
    "p": "ol",
    "a": "qsz",
    "s": "adw",
    "d": "sfe",
    "f": "dgr",
    "g": "fht",
    "h": "gjy",
    "j": "hku",
    "k": "jli",
    "l": "ko",
    "z": "xa",
    "x": "zc",
    "c": "xv",
    "v": "cb",
    "b": "vn",
    "n": "bm",
    "m": "n",
}
TITLES = [
    "VP of Sales",
    "Head of Operations",
    "CTO",
    "IT Manager",
    "Procurement Lead",
    "Marketing Director",
    "Engineer",
    "Operations Manager",
    "CFO",
    "Product Manager",
]
MESSAGES = [
    "We need a demo for 40 seats this quarter",
    "Please send pricing",
    "Interested in a pilot",
    None,
    None,
    "Met you at the booth, call me",
    "Looking to replace our current tool",
]

# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------

_used_phones: set[str] = set()


def gen_phone(country: str, kind: str = "mobile") -> str:
    t = (
        phonenumbers.PhoneNumberType.MOBILE
        if kind == "mobile"
        else phonenumbers.PhoneNumberType.FIXED_LINE
    )
    ex = phonenumbers.example_number_for_type(country, t)
    base = phonenumbers.format_number(ex, phonenumbers.PhoneNumberFormat.E164)
    for _ in range(1000):
        tail = "".join(rng.choice("0123456789") for _ in range(5))
        cand = base[:-5] + tail
        if cand in _used_phones:
            continue
        p = phonenumbers.parse(cand)
        if phonenumbers.is_valid_number(p):
            _used_phones.add(cand)
            return cand
    raise RuntimeError(country)


for c in COMPANIES:
    c.switchboard = gen_phone(c.country, "fixed")


def slug(s: str, country: str | None = None) -> str:
    if country in ("DE", "AT", "CH"):
        for a, b in (
            ("ä", "ae"),
            ("ö", "oe"),
            ("ü", "ue"),
            ("ß", "ss"),
            ("Ä", "ae"),
            ("Ö", "oe"),
            ("Ü", "ue"),
        ):
            s = s.replace(a, b)
    s = anyascii(s).lower()
    return "".join(ch for ch in s if ch.isalnum())


def local_part(fmt: str, first: str, last: str, country: str | None) -> str:
    f, last_ = slug(first, country), slug(last, country)
    return {
        "first.last": f"{f}.{last_}",
        "flast": f"{f[:1]}{last_}",
        "first": f,
        "firstlast": f"{f}{last_}",
        "f.last": f"{f[:1]}.{last_}",
        "first_last": f"{f}_{last_}",
        "firstl": f"{f}{last_[:1]}",
        "last.first": f"{last_}.{f}",
    }[fmt]


ALIAS_FMTS = ["first.last", "flast", "first", "firstlast", "f.last", "first_last", "firstl"]


_used_emails: set[str] = set()


def free_address(first: str, last: str, country: str, domain: str | None = None) -> str:
    """A personal mailbox nobody else in the set uses (two people never share one)."""
    f, last_ = slug(first, country), slug(last, country)
    for _ in range(100):
        dom = domain or rng.choice(FREEMAIL.get(country, DEFAULT_FREEMAIL))
        pat = rng.choice(["{f}.{l}", "{f}{l}", "{f}.{l}{n}", "{f0}{l}{n}", "{f}_{l}", "{l}.{f}{n}"])
        addr = pat.format(f=f, l=last_, f0=f[:1], n=rng.randint(1, 99)) + "@" + dom
        canon = addr.split("@")[0].replace(".", "") + "@" + dom
        if canon not in _used_emails:
            _used_emails.add(canon)
            return addr
    raise RuntimeError("no free address")


def work_address(fmt: str, first: str, last: str, company: Company, country: str) -> str:
    """A work address in the company's format; a colleague who would collide gets another."""
    for f in [fmt, *ALIAS_FMTS]:
        addr = local_part(f, first, last, country) + "@" + company.domain
        if addr not in _used_emails:
            _used_emails.add(addr)
            return addr
    raise RuntimeError("no work address")


def typo(word: str, kind: str) -> str:
    w = word
    for _ in range(50):
        if kind == "transposition" and len(w) >= 4:
            i = rng.randint(1, len(w) - 3)
            if w[i] == w[i + 1]:
                continue
            out = w[:i] + w[i + 1] + w[i] + w[i + 2 :]
        elif kind == "dropped" and len(w) >= 4:
            i = rng.randint(1, len(w) - 1)
            out = w[:i] + w[i + 1 :]
        elif kind == "doubled":
            i = rng.randint(1, len(w) - 1)
            out = w[:i] + w[i] + w[i:]
        elif kind == "wrong_key":
            i = rng.randint(1, len(w) - 1)
            ch = w[i].lower()
            if ch not in QWERTY:
                continue
            out = w[:i] + rng.choice(QWERTY[ch]) + w[i + 1 :]
        else:
            return w
        if out != w:
            return out
    return w


def uid() -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


# --------------------------------------------------------------------------------------
# people and submissions
# --------------------------------------------------------------------------------------


@dataclass
class Person:
    pid: int
    first: str
    last: str
    company: Company | None
    country: str
    primary: str  # "work" | "free"
    work_email: str | None
    free_email: str
    mobile: str
    office_phone: str  # what they type in the phone box: their mobile, or the switchboard
    tag: str = "base"
    alt_names: list[tuple[str, str]] = field(default_factory=list)
    title: str = ""


@dataclass
class Sub:
    sid: int
    pid: int
    t: datetime
    fields: dict[str, Any]
    variant: str  # "base", a same-person variant kind, or a look-alike kind
    mode: str = ""
    channel: str = "web"
    twin_sid: int | None = None  # for look-alikes: the submission of the other person it mimics
    base_sid: int | None = None  # for same-person variants: the person's first submission
    truth_same: bool | None = None
    # filled by the run
    data: dict[str, Any] | None = None
    lead: uuid.UUID | None = None
    created: bool = False
    review_of: uuid.UUID | None = None
    detail: str = ""
    matched_by: str = ""


PEOPLE: list[Person] = []
SUBS: list[Sub] = []
_names_taken: set[tuple[str, str, str]] = set()


def new_person(
    first: str,
    last: str,
    company: Company | None,
    *,
    country: str | None = None,
    primary: str = "work",
    work_fmt: str | None = None,
    tag: str = "base",
    office_phone: str | None = None,
) -> Person:
    country = country or (company.country if company else "US")
    work = None
    if company is not None and primary == "work":
        work = work_address(work_fmt or company.fmt, first, last, company, country)
    mobile = gen_phone(country)
    p = Person(
        len(PEOPLE),
        first,
        last,
        company,
        country,
        primary,
        work,
        free_address(first, last, country),
        mobile,
        office_phone or mobile,
        tag,
        title=rng.choice(TITLES),
    )
    PEOPLE.append(p)
    _names_taken.add((first, last, company.key if company else ""))
    return p


def base_fields(
    p: Person,
    *,
    first: str | None = None,
    last: str | None = None,
    email: str | None = "default",
    phone: str | bool | None = "maybe",
    company: str | bool | None = True,
    website: str | None = None,
) -> dict[str, Any]:
    f: dict[str, Any] = {
        "first_name": p.first if first is None else first,
        "last_name": p.last if last is None else last,
        "country": p.country,
        "job_title": p.title,
    }
    if email == "default":
        email = p.work_email if p.primary == "work" else p.free_email
    if email:
        f["email"] = email
    if phone == "maybe":
        phone = p.office_phone if rng.random() < 0.5 else None
    elif phone is True:
        phone = p.office_phone
    if phone:
        f["phone"] = phone
    if company is True and p.company is not None:
        f["company"] = p.company.name
    elif isinstance(company, str):
        f["company"] = company
    if website:
        f["website"] = website
    if p.company is not None:
        f["industry"] = p.company.industry
        f["company_size"] = p.company.size
    msg = rng.choice(MESSAGES)
    if msg:
        f["message"] = msg
    return f


def add_sub(
    p: Person, t: datetime, fields: dict[str, Any], variant: str, mode: str = "", **kw: Any
) -> Sub:
    s = Sub(
        len(SUBS),
        p.pid,
        t,
        {k: v for k, v in fields.items() if v is not None},
        variant,
        mode,
        channel=kw.pop("channel", rng.choice(["web", "web", "trade_show"])),
        **kw,
    )
    SUBS.append(s)
    return s


def days(a: float, b: float) -> timedelta:
    return timedelta(seconds=rng.uniform(a * 86400, b * 86400))


FIRST_SUB: dict[int, Sub] = {}


def base_sub(p: Person, t: datetime | None = None, **kw: Any) -> Sub:
    t = t or T0 + days(0, 35)
    website = None
    if p.primary == "free" and p.company is not None and rng.random() < 0.25:
        website = "https://www." + p.company.domain
    s = add_sub(p, t, base_fields(p, website=website, **kw), "base")
    FIRST_SUB[p.pid] = s
    return s


def pick_name(country: str, company: Company | None) -> tuple[str, str]:
    firsts, lasts = POOLS[COUNTRY_POOL[country]]
    for _ in range(200):
        fn, ln = rng.choice(firsts), rng.choice(lasts)
        if (fn, ln, company.key if company else "") not in _names_taken and not any(
            fn == q.first and ln == q.last for q in PEOPLE
        ):
            return fn, ln
    raise RuntimeError("names exhausted")


def build_population() -> None:
    english = [c for c in COMPANIES if c.country in ("GB", "US", "AU", "IE", "CA")]
    # nickname people: every pair of the brief twice (work alias / personal address), a few
    # more common ones once; a third of them submit the nickname first
    pairs = [
        ("Robert", "Bob"),
        ("William", "Bill"),
        ("Elizabeth", "Liz"),
        ("Elizabeth", "Beth"),
        ("Margaret", "Peggy"),
        ("Richard", "Dick"),
        ("Richard", "Rick"),
        ("Katherine", "Kate"),
        ("Katherine", "Katie"),
        ("Alexander", "Alex"),
        ("Jennifer", "Jen"),
    ]
    extra = [
        ("Robert", "Rob"),
        ("William", "Will"),
        ("Margaret", "Maggie"),
        ("Jennifer", "Jenny"),
        ("Katherine", "Kathy"),
        ("Richard", "Rich"),
    ]
    plan = (
        [(f, n, "alias_email") for f, n in pairs]
        + [(f, n, "personal_email") for f, n in pairs]
        + [(f, n, rng.choice(["alias_email", "personal_email"])) for f, n in extra]
    )
    for i, (fn, nick, mode) in enumerate(plan):
        c = rng.choice(english)
        ln = rng.choice([x for x in EN_LAST if (fn, x, c.key) not in _names_taken])
        p = new_person(fn, ln, c, tag="nick")
        p.alt_names = [(nick, mode, "nick_first" if i % 3 == 2 else "formal_first")]
    for native, latins, ck in DIACRITIC_PEOPLE:
        new_person(*native, CO[ck], tag="diacritic").alt_names = latins
    for native, latins, ck in TRANSLIT_PEOPLE:
        p = new_person(*latins[0], CO[ck], tag="translit")  # address from the first Latin form
        p.alt_names = [native, *latins]
    # generic colleagues: 2-3 per company
    for c in COMPANIES:
        for _ in range(rng.choice([2, 2, 3])):
            fn, ln = pick_name(c.country, c)
            primary = "free" if rng.random() < 0.2 else "work"
            office = c.switchboard if rng.random() < 0.12 else None
            new_person(fn, ln, c, primary=primary, office_phone=office)
    # Chinese/Singaporean people whose names get swapped on badges
    for ck in ("jaderiver", "goldenlotus", "pearldelta", "lioncity"):
        fn, ln = pick_name(CO[ck].country, CO[ck])
        new_person(fn, ln, CO[ck], tag="cn")
    # a few free-mail people with no company at all
    for country in ("US", "GB", "DE"):
        fn, ln = pick_name(country, None)
        new_person(fn, ln, None, country=country, primary="free")
    for p in list(PEOPLE):
        base_sub(p)


# --- same-person variants -------------------------------------------------------------

NAME_MODES = [("same_email", 0.2), ("alias_email", 0.4), ("personal_email", 0.4)]


def pick_mode(modes: list[tuple[str, float]] = NAME_MODES) -> str:
    r, acc = rng.random(), 0.0
    for m, w in modes:
        acc += w
        if r < acc:
            return m
    return modes[-1][0]


def later(p: Person) -> datetime:
    return FIRST_SUB[p.pid].t + days(0.05, 45)


def variant_phone(p: Person) -> str | None:
    return p.office_phone if rng.random() < 0.3 else None


def contact_for(p: Person, mode: str, first: str, last: str) -> tuple[str | None, str]:
    """The address a name-variant submission uses, and the mode actually applied."""
    if mode == "same_email":
        return (p.work_email if p.primary == "work" else p.free_email), mode
    if mode == "alias_email":
        if p.primary == "work" and p.company is not None:
            current = p.work_email.split("@")[0]
            fmts = [
                f
                for f in ALIAS_FMTS
                if local_part(f, first, last, p.country) != current
                and local_part(f, first, last, p.country) + "@" + p.company.domain
                not in _used_emails
            ]
            addr = local_part(rng.choice(fmts), first, last, p.country) + "@" + p.company.domain
            _used_emails.add(addr)
            return addr, mode
        return free_address(first, last, p.country), "other_freemail"
    # personal_email
    if p.primary == "work":
        return free_address(first, last, p.country), mode
    return free_address(first, last, p.country), "other_freemail"


def name_variant(p: Person, kind: str, first: str, last: str, mode: str | None = None) -> Sub:
    mode = mode or pick_mode()
    email, mode = contact_for(p, mode, first, last)
    f = base_fields(p, first=first, last=last, email=email, phone=variant_phone(p))
    return add_sub(p, later(p), f, kind, mode, base_sid=FIRST_SUB[p.pid].sid, truth_same=True)


def build_variants() -> None:
    work = [p for p in PEOPLE if p.primary == "work" and p.tag == "base"]
    usage: Counter[int] = Counter()

    def choose(pool: list[Person], k: int) -> list[Person]:
        pool = [p for p in pool if usage[p.pid] < 3]
        rng.shuffle(pool)
        pool.sort(key=lambda p: usage[p.pid])
        chosen = pool[:k]
        for p in chosen:
            usage[p.pid] += 1
        return chosen

    def add(p: Person, fields: dict[str, Any], kind: str, mode: str = "") -> None:
        add_sub(p, later(p), fields, kind, mode, base_sid=FIRST_SUB[p.pid].sid, truth_same=True)

    # exact repeat (control) and upper-case address
    for p in choose(PEOPLE, 10):
        add(p, base_fields(p, email="default", phone=variant_phone(p)), "exact_repeat")
    for p in choose(work, 10):
        e = p.work_email
        mixed = e.split("@")[0].title() + "@" + e.split("@")[1].upper()
        add(p, base_fields(p, email=mixed, phone=variant_phone(p)), "email_case")
    # gmail dots / plus tags / googlemail, outlook plus tags
    free_people = [p for p in PEOPLE if p.primary == "free"]
    for p in free_people:  # make sure enough free-mail people are on gmail/outlook
        if rng.random() < 0.7:
            dom = rng.choice(["gmail.com", "gmail.com", "outlook.com"])
            canon = p.free_email.split("@")[0].replace(".", "") + "@" + dom
            if canon not in _used_emails:
                _used_emails.add(canon)
                p.free_email = p.free_email.split("@")[0] + "@" + dom
                FIRST_SUB[p.pid].fields["email"] = p.free_email
    for p in choose(
        [
            p
            for p in free_people
            if p.free_email.endswith(("gmail.com", "outlook.com", "hotmail.com"))
        ],
        16,
    ):
        local, dom = p.free_email.split("@")
        if dom == "gmail.com":
            how = rng.choice(["dots", "plus", "googlemail", "dots+plus"])
            bare = local.replace(".", "")
            if "dots" in how:
                if "." in local:
                    local2 = bare
                else:
                    i = rng.randint(1, len(bare) - 1)
                    local2 = bare[:i] + "." + bare[i:]
            else:
                local2 = local
            if "plus" in how:
                local2 += "+" + rng.choice(["events", "newsletter", "hannover", "b2b"])
            dom2 = "googlemail.com" if how == "googlemail" else dom
            email = local2 + "@" + dom2
        else:
            how = "plus"
            email = local + "+" + rng.choice(["work", "leads", "expo"]) + "@" + dom
        add(p, base_fields(p, email=email, phone=variant_phone(p)), "freemail_dots_plus", how)
    # second work alias, personal address instead of the work one (exact name)
    for p in choose(work, 18):
        email, _ = contact_for(p, "alias_email", p.first, p.last)
        add(p, base_fields(p, email=email, phone=variant_phone(p)), "work_alias")
    for p in choose(work, 18):
        email = free_address(p.first, p.last, p.country)
        add(p, base_fields(p, email=email, phone=variant_phone(p)), "personal_email")
    # nicknames (both directions)
    for p in [q for q in PEOPLE if q.tag == "nick"]:
        nick, mode, order = p.alt_names[0]
        if order == "nick_first":
            FIRST_SUB[p.pid].fields["first_name"] = nick
            s = name_variant(p, "nickname", p.first, p.last, mode)
        else:
            s = name_variant(p, "nickname", nick, p.last, mode)
        s.mode += f":{p.first}/{nick}" + (":nick_first" if order == "nick_first" else "")
        usage[p.pid] += 1
    # first-name and last-name typos
    eligible = [p for p in PEOPLE if p.tag in ("base", "nick") and len(p.first) >= 4]
    kinds = ["transposition", "dropped", "doubled", "wrong_key"]
    for i, p in enumerate(choose(eligible, 24)):
        k = kinds[i % 4]
        name_variant(p, "first_typo", typo(p.first, k), p.last).mode += f":{k}"
    for i, p in enumerate(choose([p for p in eligible if len(p.last) >= 5], 20)):
        k = kinds[i % 4]
        name_variant(p, "last_typo", p.first, typo(p.last, k)).mode += f":{k}"
    # diacritics removed / transliterated (both directions)
    for p in [q for q in PEOPLE if q.tag == "diacritic"]:
        alt = rng.choice(p.alt_names)
        if rng.random() < 0.3:  # the ASCII form came first
            FIRST_SUB[p.pid].fields.update(first_name=alt[0], last_name=alt[1])
            s = name_variant(p, "diacritics", p.first, p.last)
            s.mode += ":ascii_first"
        else:
            name_variant(p, "diacritics", alt[0], alt[1])
        usage[p.pid] += 1
    # Cyrillic / Greek: native script vs Latin, or two Latin renderings
    for i, p in enumerate([q for q in PEOPLE if q.tag == "translit"]):
        native, *latins = p.alt_names
        if i % 2 == 0:
            FIRST_SUB[p.pid].fields.update(first_name=native[0], last_name=native[1])
            alt = rng.choice(latins)
            s = name_variant(p, "translit", alt[0], alt[1])
            s.mode += ":native_then_latin"
        else:
            alt = rng.choice(latins[1:])
            s = name_variant(p, "translit", alt[0], alt[1])
            s.mode += ":latin_vs_latin"
        usage[p.pid] += 1
    # first and last swapped
    swap_pool = [p for p in PEOPLE if p.tag == "cn"] + [
        p for p in PEOPLE if p.country in ("CN", "SG") and p.tag == "base"
    ]
    for p in swap_pool[:8] + choose(
        [p for p in PEOPLE if p.tag == "base" and p.country not in ("CN", "SG")], 6
    ):
        name_variant(p, "name_swap", p.last, p.first)
    # subdomain (shop.acme.co.uk vs acme.co.uk)
    for p in choose([p for p in work if p.company.sub], 12):
        local = p.work_email.split("@")[0]
        how = rng.choice(["email", "email", "website"])
        if how == "email":
            f = base_fields(p, email=f"{local}@{p.company.sub}", phone=variant_phone(p))
        else:
            f = base_fields(
                p,
                email=free_address(p.first, p.last, p.country),
                phone=variant_phone(p),
                website=f"https://{p.company.sub}/contact",
            )
        add(p, f, "subdomain", how)
    # company name written differently: personal address or phone only, exact name. The
    # kinds of difference are taken in turn so each is represented.
    cv_kinds = [
        "legal_form",
        "upper_case",
        "ampersand",
        "local_conjunction",
        "diacritic",
        "other_script",
        "spacing",
        "abbreviation",
    ]
    cv_pool = [p for p in PEOPLE if p.company and p.tag == "base"]
    for i in range(30):
        kind = cv_kinds[i % len(cv_kinds)]
        cands = [
            p
            for p in cv_pool
            if any(k == kind for k, _ in CO_VARIANTS[p.company.key]) and usage[p.pid] < 3
        ]
        if not cands:
            continue
        p = rng.choice(cands)
        usage[p.pid] += 1
        cname = rng.choice([v for k, v in CO_VARIANTS[p.company.key] if k == kind])
        if rng.random() < 0.7:
            f = base_fields(
                p,
                email=free_address(p.first, p.last, p.country),
                phone=variant_phone(p),
                company=cname,
            )
            add(p, f, "company_variant", f"{kind}:personal_email")
        else:
            f = base_fields(p, email=None, phone=p.office_phone, company=cname)
            known = "phone" in FIRST_SUB[p.pid].fields
            add(
                p,
                f,
                "company_variant",
                f"{kind}:phone_only" + (":known_phone" if known else ":new_phone"),
            )
    # phone-only repeat without a name (the number was on an earlier submission)
    had_phone = [
        p for p in PEOPLE if "phone" in FIRST_SUB[p.pid].fields and p.office_phone == p.mobile
    ]
    for p in choose(had_phone, 14):
        f = {"phone": p.mobile, "country": p.country}
        mode = "bare"
        if rng.random() < 0.4 and p.company:
            f["company"] = p.company.name
            mode = "with_company"
        add(p, f, "phone_only_no_name", mode)


# --- different-people look-alikes ----------------------------------------------------


def lookalike(
    p_new: Person,
    twin: Sub,
    fields: dict[str, Any],
    kind: str,
    mode: str = "",
    t: datetime | None = None,
) -> Sub:
    t = t or twin.t + days(0.05, 40)
    s = add_sub(p_new, t, fields, kind, mode, twin_sid=twin.sid, truth_same=False)
    FIRST_SUB.setdefault(p_new.pid, s)
    return s


SIBLINGS = [
    ("Paul", "Paula", "Weber", "weber"),
    ("Jan", "Jana", "Novak", "novakdental"),
    ("Mario", "Maria", "Rossi", "rossi"),
    ("Daniel", "Daniela", "Fischer", "alpenblick"),
    ("Michael", "Michaela", "Brennan", "liffey"),
    ("Alexander", "Alexandra", "Papas", "hellenic"),
    ("Francesco", "Francesca", "Bianchi", "rossi"),
    ("Eric", "Erica", "Lindgren", "ostersjo"),
    ("Carl", "Carla", "Mendes", "mendes"),
    ("Ivan", "Ivana", "Horvat", "vltava"),
    ("Stefan", "Stefanie", "Krause", "schwarzwald"),
    ("Gabriel", "Gabriela", "Ortiz", "tecnorte"),
    ("Jan", "Jana", "Novák", "novakstavby"),
    ("Christian", "Christiane", "Wolf", "rheinlog"),
    ("Louis", "Louise", "Martin", "lumiere"),
    ("Julian", "Juliana", "Costa", "mendes"),
    ("Antonio", "Antonia", "Greco", "rossi"),
]


def build_lookalikes() -> None:
    # 1. colleagues behind one switchboard number (groups of 2 and of 4)
    for ck, n in (
        ("cobalt", 2),
        ("koala", 4),
        ("rheinlog", 2),
        ("aegean", 4),
        ("lakeshore", 3),
        ("penalara", 2),
        ("lioncity", 4),
    ):
        c = CO[ck]
        first_sub = None
        t = T0 + days(0, 30)
        for _ in range(n):
            fn, ln = pick_name(c.country, c)
            p = new_person(fn, ln, c, tag="switchboard", office_phone=c.switchboard)
            f = base_fields(p, phone=True)
            if first_sub is None:
                first_sub = base_sub(p, t)
                first_sub.fields = f
            else:
                t = t + days(0.05, 6)
                lookalike(p, first_sub, f, "switchboard_colleague", f"group_of_{n}", t=t)
        # a colleague on a call-back form: name + switchboard + company, no email
        fn, ln = pick_name(c.country, c)
        p = new_person(fn, ln, c, tag="switchboard", office_phone=c.switchboard)
        f = base_fields(p, email=None, phone=c.switchboard)
        lookalike(p, first_sub, f, "switchboard_no_email", f"group_of_{n}", t=t + days(0.05, 6))
    # 2. same surname at one company: siblings / spouses with near-identical first names
    for i, (a, b, ln, ck) in enumerate(SIBLINGS):
        c = CO[ck]
        mode = ["work_email", "personal_email", "shared_home_phone", "name_company_only"][i % 4]
        pa = new_person(a, ln, c, tag="sibling")
        pb = new_person(b, ln, c, tag="sibling")
        if mode == "shared_home_phone":
            home = gen_phone(c.country, "fixed")
            pa.office_phone = pb.office_phone = home
        sa = base_sub(
            pa,
            phone=True if mode == "shared_home_phone" else "maybe",
            email=pa.free_email if mode == "personal_email" else "default",
        )
        if mode == "work_email":
            fb = base_fields(pb)
        elif mode == "personal_email":
            fb = base_fields(pb, email=pb.free_email)
        elif mode == "shared_home_phone":
            fb = base_fields(pb, phone=True)
        else:
            fb = base_fields(pb, email=None, phone=pb.mobile)
        lookalike(pb, sa, fb, "surname_similar_first", mode)
    # same surname, unrelated first names (colleagues)
    for ck in ("northgate", "ibericas", "mueller", "jaderiver", "summit", "krakow"):
        c = CO[ck]
        existing = [p for p in PEOPLE if p.company is c and p.tag == "base"]
        p0 = existing[0]
        fn = rng.choice([x for x in POOLS[COUNTRY_POOL[c.country]][0] if x != p0.first])
        p = new_person(fn, p0.last, c, tag="surname")
        mode = rng.choice(["work_email", "personal_email", "name_company_only"])
        email = {
            "work_email": "default",
            "personal_email": p.free_email,
            "name_company_only": None,
        }[mode]
        lookalike(
            p,
            FIRST_SUB[p0.pid],
            base_fields(p, email=email, phone=True if email is None else "maybe"),
            "surname_colleague",
            mode,
        )
    # 3. the same name at another company
    src = [p for p in PEOPLE if p.tag in ("base", "nick", "diacritic") and p.company is not None]
    rng.shuffle(src)
    for i, p0 in enumerate(src[:14]):
        others = [
            c for c in COMPANIES if c is not p0.company and c.country == p0.company.country
        ] or [c for c in COMPANIES if c is not p0.company]
        c = rng.choice(others)
        p = new_person(p0.first, p0.last, c, tag="namesake")
        mode = "work_email" if i % 3 else "personal_email"
        email = "default" if mode == "work_email" else p.free_email
        lookalike(
            p, FIRST_SUB[p0.pid], base_fields(p, email=email), "same_name_other_company", mode
        )
    # 4. role addresses used by several colleagues
    for ck, role, n in (
        ("harrisoncole", "info", 3),
        ("smithsons", "sales", 2),
        ("nordlys", "info", 3),
        ("brightline", "hello", 3),
        ("vdberg", "info", 2),
        ("summit", "marketing", 2),
        ("tecnorte", "ventas", 2),
        ("rheinlog", "vertrieb", 2),
        ("koelner", "kontakt", 2),
        ("lumiere", "contact", 2),
        ("wisla", "biuro", 2),
        ("alpenblick", "office", 2),
        ("vdberg", "verkoop", 2),
        ("ibericas", "comercial", 2),
    ):
        c = CO[ck]
        addr = f"{role}@{c.domain}"
        t = T0 + days(0, 30)
        ppl = []
        for i in range(n):
            fn, ln = pick_name(c.country, c)
            p = new_person(fn, ln, c, tag="role")
            p.work_email = addr
            ppl.append(p)
            f = base_fields(p, email=addr)
            mode_n = f"{n}_users:{role}"
            if i == 0:
                s0 = base_sub(p, t)
                s0.fields = f
            else:
                t = t + days(0.05, 5)
                lookalike(p, s0, f, "role_address", mode_n, t=t)
        # the first colleague comes back, same role address, same name
        p = ppl[0]
        add_sub(
            p,
            t + days(0.05, 5),
            base_fields(p, email=addr),
            "role_address_repeat",
            mode_n,
            base_sid=FIRST_SUB[p.pid].sid,
            truth_same=True,
        )
    # 5. a common name at two different companies under one country suffix
    for fn, ln, ck1, ck2 in (
        ("John", "Smith", "northgate", "brightwave"),
        ("John", "Smith", "pennine", "thamesvalley"),
        ("Maria", "Garcia", "ibericas", "penalara"),
        ("Wei", "Zhang", "jaderiver", "goldenlotus"),
        ("Wei", "Zhang", "jaderiver", "pearldelta"),
        ("David", "Jones", "koala", "southerncross"),
        ("David", "Jones", "koala", "harbour"),
        ("Sarah", "Thompson", "cobalt", "redwood"),
    ):
        if (fn, ln, ck1) in _names_taken:
            p1 = next(
                p
                for p in PEOPLE
                if (p.first, p.last, p.company.key if p.company else "") == (fn, ln, ck1)
            )
        else:
            p1 = new_person(fn, ln, CO[ck1], tag="common")
            base_sub(p1)
        p2 = new_person(fn, ln, CO[ck2], tag="common")
        for mode in ("work_email", "personal_email"):
            if mode == "work_email":
                f = base_fields(p2)
            else:  # free-mail, company named
                f = base_fields(p2, email=free_address(fn, ln, p2.country))
            lookalike(p2, FIRST_SUB[p1.pid], f, "common_name_same_suffix", mode)
            if mode == "work_email":
                FIRST_SUB[p2.pid] = SUBS[-1]
        # someone with the same name, free-mail and no company at all
        p3 = new_person(fn, ln, None, country=p1.country, primary="free", tag="common")
        lookalike(
            p3,
            FIRST_SUB[p1.pid],
            base_fields(p3, company=None),
            "common_name_no_company",
            "freemail",
        )
    # 6. father and son at one company
    for fn, ln, ck, jr_first, jr_last, mode in (
        ("John", "Smith", "smithsons", "John", "Smith Jr.", "jr_in_last_name"),
        ("Robert", "Miller", "millerroof", "Robert", "Miller Jr.", "jr_in_last_name"),
        ("Carlos", "Mendes", "mendes", "Carlos", "Mendes Filho", "jr_in_last_name"),
        ("Richard", "Hale", "lakeshore", "Richard", "Hale Jr", "jr_in_last_name"),
        ("Hans", "Bauer", "weber", "Hans", "Bauer jun.", "jr_in_last_name"),
        ("William", "Carter", "cobalt", "William", "Carter II", "jr_in_last_name"),
        ("James", "Walsh", "redwood", "James Jr.", "Walsh", "jr_in_first_name"),
        ("Peter", "Wright", "millerroof", "Peter", "Wright", "jr_only_in_email"),
    ):
        c = CO[ck]
        if (fn, ln, ck) in _names_taken:
            p1 = next(
                p
                for p in PEOPLE
                if (p.first, p.last, p.company.key if p.company else "") == (fn, ln, ck)
            )
        else:
            p1 = new_person(fn, ln, c, tag="father")
            base_sub(p1)
        p2 = new_person(jr_first, jr_last, c, tag="son")
        if mode == "jr_only_in_email" or p2.work_email == p1.work_email:
            p2.work_email = local_part("first.last", fn, ln, c.country) + ".jr@" + c.domain
        lookalike(p2, FIRST_SUB[p1.pid], base_fields(p2), "father_son", mode)


# --------------------------------------------------------------------------------------
# the run: batches through decide_batch, folded into an in-memory store like batch.py
# --------------------------------------------------------------------------------------


@dataclass
class Store:
    leads: dict[uuid.UUID, LeadRow] = field(default_factory=dict)
    order: dict[uuid.UUID, int] = field(default_factory=dict)  # insertion order (created_at ties)
    identities: dict[tuple[str, str], list[uuid.UUID]] = field(default_factory=dict)
    shared: set[tuple[str, str]] = field(default_factory=set)
    clocks: dict[uuid.UUID, Any] = field(default_factory=dict)
    reps: dict[str, Rep] = field(default_factory=dict)


def make_config() -> Config:
    rules = load_scoring_rules(ROOT / "deploy" / "config" / "scoring.yaml")
    return Config(
        rules=rules,
        routing_rules=(RoutingRule(name="everyone", team_id="sales"),),
        follow_the_sun=(),
        fallback_queue="unassigned",
        policy=POLICY,
    )


def load_state(store: Store, arrivals: list[Arrival]) -> BatchState:
    """What batch.py loads: the leads holding the arrivals' keys (oldest lead first), the shared
    ones among them, the fuzzy candidates under their company keys (oldest first, <= 200)."""
    from services.router.domain.intake import (
        FUZZY_CANDIDATES,
        arrival_company_keys,
        widened_key,
    )

    keys = {k for a in arrivals for k in a.identities}
    ids = {}
    for k in keys:
        held = store.identities.get(k)
        if held:
            ids[k] = sorted(held, key=lambda i: (store.leads[i].created_at, i))
    companies = {c for a in arrivals for c in arrival_company_keys(a)}
    # fuzzy_candidates_many: under the company key; name keys of arrivals without a domain
    # also under the company name key
    widen = {k for a in arrivals if (k := widened_key(a)) is not None}
    cands: dict[str, list[Candidate]] = {}
    for k in companies:
        rows = [
            lr
            for lr in store.leads.values()
            if lr.company_key == k or (k in widen and lr.company_name_key == k)
        ]
        rows.sort(key=lambda lr: (lr.created_at, store.order[lr.id]))
        cands[k] = [
            Candidate(
                lead_id=lr.id,
                first_name=lr.first_name,
                last_name=lr.last_name,
                company=lr.profile.get("company"),
                company_domain=lr.profile.get("company_domain"),
            )
            for lr in rows[:FUZZY_CANDIDATES]
        ]
    return BatchState(
        identities=ids,
        candidates=cands,
        leads=dict(store.leads),  # superset of what batch.py loads: same decisions, no late loads
        activities={i: [] for i in store.leads},
        clocks=dict(store.clocks),
        teams={"sales": Team(id="sales", name="Sales")},
        team_timezones={"sales": "UTC"},
        reps=dict(store.reps),
        shared={k for k in keys if k in store.shared},
    )


def apply(store: Store, out: Any, state: BatchState) -> None:
    for lead_id, lead in out.leads.items():
        if lead_id not in store.order:
            store.order[lead_id] = len(store.order)
        store.leads[lead_id] = lead
    for kind, value, lead_id in out.identities:  # on conflict do nothing
        held = store.identities.setdefault((kind, value), [])
        if lead_id not in held:
            held.append(lead_id)
    for s in out.shared_identities:
        store.shared.add((s.kind, s.value))
    store.clocks.update(out.clocks)
    store.reps = dict(state.reps)  # weights, open leads, period counts as written back


def to_arrival(s: Sub) -> Arrival:
    data = validate_lead(s.fields)  # normalized as the ingest service publishes it
    incoming = data.model_dump(mode="json")
    s.data = incoming
    show = None
    if s.channel == "trade_show":
        show = ShowRef(
            show_id="hm-2026",
            name="Hannover Messe 2026",
            end_date=date(2026, 9, 4),
            timezone="Europe/Berlin",
            import_id=uuid.UUID(int=7),
            row_number=s.sid + 1,
        )
    return Arrival(
        event_id=str(uid()),
        submission_id=uid(),
        source_id="hm-2026" if show else "website",
        channel=s.channel,
        purchased_list=False,
        received_at=s.t,
        incoming=incoming,
        trade_show=show,
    )


def run() -> tuple[list[Sub], Counter[str]]:
    config = make_config()
    store = Store(
        reps={
            r: Rep(id=r, team_id="sales", name=r, weight=w, capacity=100_000)
            for r, w in (("a", 3), ("b", 2), ("c", 1))
        }
    )
    subs = sorted(SUBS, key=lambda s: s.t)
    stats: Counter[str] = Counter()
    for i in range(0, len(subs), BATCH):
        chunk = subs[i : i + BATCH]
        arrivals = [to_arrival(s) for s in chunk]
        now = chunk[-1].t + timedelta(seconds=30)
        state = load_state(store, arrivals)
        out = decide_batch(state, arrivals, config, now, new_id=uid)
        for s, o in zip(chunk, out.outcomes, strict=True):
            s.lead = o.lead.id
            s.created = o.created
            s.detail = o.submission.detail
            s.matched_by = o.submission.matched_by
            s.review_of = o.review.other_lead_id if o.review is not None else None
        for sub_out, s in zip(out.submissions, chunk, strict=True):
            assert sub_out.detail == s.detail
        stats["reviews"] += len(out.reviews)
        stats["shared_identities"] += len(out.shared_identities)
        stats["batches"] += 1
        apply(store, out, state)
    return subs, stats


# --------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------


def describe(s: Sub) -> str:
    d = s.data or s.fields
    name = f"{d.get('first_name') or ''} {d.get('last_name') or ''}".strip() or "(no name)"
    bits = [
        f"#{s.sid} {name}",
        f"<{d.get('email') or '-'}>",
        f"tel {d.get('phone') or '-'}",
        f"co {d.get('company') or '-'}",
    ]
    if d.get("company_domain"):
        bits.append(f"dom {d['company_domain']}")
    return " | ".join(bits)


def main() -> None:
    build_population()
    build_variants()
    build_lookalikes()
    subs, stats = run()
    by_sid = {s.sid: s for s in subs}
    n = len(subs)
    lines: list[str] = []

    def out(line: str = "") -> None:
        lines.append(line)

    # --- pairwise over all submission pairs ------------------------------------------
    tp = fp = fn = tn = 0
    # "if reviewers accepted every review": union of same-lead and review edges
    parent: dict[uuid.UUID, uuid.UUID] = {}

    def find(x: uuid.UUID) -> uuid.UUID:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for s in subs:
        if s.review_of is not None:
            parent[find(s.lead)] = find(s.review_of)
    tp2 = fp2 = fn2 = 0
    false_pairs: list[tuple[Sub, Sub]] = []
    missed_pairs: list[tuple[Sub, Sub]] = []
    for a, b in itertools.combinations(subs, 2):
        same = a.pid == b.pid
        pred = a.lead == b.lead
        pred2 = find(a.lead) == find(b.lead)
        if same and pred:
            tp += 1
        elif same:
            fn += 1
            missed_pairs.append((a, b))
        elif pred:
            fp += 1
            false_pairs.append((a, b))
        else:
            tn += 1
        if same and pred2:
            tp2 += 1
        elif same:
            fn2 += 1
        elif pred2:
            fp2 += 1
    prec = tp / (tp + fp) if tp + fp else 1.0
    rec = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    prec2 = tp2 / (tp2 + fp2) if tp2 + fp2 else 1.0
    rec2 = tp2 / (tp2 + fn2) if tp2 + fn2 else 1.0
    f12 = 2 * prec2 * rec2 / (prec2 + rec2) if prec2 + rec2 else 0.0
    n_reviews = sum(1 for s in subs if s.review_of is not None)
    people = len({s.pid for s in subs})
    leads = len({s.lead for s in subs})

    out("=" * 100)
    out(f"HOLD-OUT DEDUPE EVALUATION  (seed {SEED}, batches of {BATCH}, policy {POLICY})")
    out("=" * 100)
    out(
        f"submissions {n}   people {people}   leads made {leads}   batches {stats['batches']}   "
        f"identities turned shared {stats['shared_identities']}"
    )
    out(f"pairs: same-person {tp + fn}   different-person {fp + tn}")
    out(
        f"PAIRWISE  precision {prec:.4f}  recall {rec:.4f}  F1 {f1:.4f}   (TP {tp} FP {fp} FN {fn})"
    )
    out(
        f"review share: {n_reviews}/{n} = {n_reviews / n:.1%} of submissions became a possible duplicate"
    )
    out(
        f"  (upper bound if a reviewer accepted every review: P {prec2:.4f} R {rec2:.4f} F1 {f12:.4f}; "
        f"FP {fp2} FN {fn2})"
    )
    out()

    # --- per-variant probe pairs -------------------------------------------------------
    def probe_outcome(a: Sub, b: Sub) -> str:
        if a.lead == b.lead:
            return "merged"
        if b.review_of is not None:
            return "review_right" if b.review_of == a.lead else "review_other"
        return "separate"

    def partner(s: Sub) -> Sub | None:
        if s.truth_same and s.base_sid is not None:
            return by_sid[s.base_sid]
        if s.truth_same is False and s.twin_sid is not None:
            return by_sid[s.twin_sid]
        return None

    rows: dict[tuple[bool, str], Counter[str]] = defaultdict(Counter)
    rows_mode: dict[tuple[bool, str, str], Counter[str]] = defaultdict(Counter)
    for s in subs:
        p = partner(s)
        if p is None:
            continue
        oc = probe_outcome(p, s)
        if s.truth_same is False and oc == "separate" and s.lead != p.lead:
            # merged into some other lead than the twin's?
            if not s.created:
                others = {q.pid for q in subs if q.lead == s.lead and q.t < s.t}
                if others - {s.pid}:
                    oc = "merged_elsewhere"
        rows[(bool(s.truth_same), s.variant)][oc] += 1
        rows_mode[(bool(s.truth_same), s.variant, s.mode.split(":")[0])][oc] += 1
        if ":" in s.mode:
            rows_mode[(bool(s.truth_same), s.variant, s.mode)][oc] += 1

    def table(title: str, truth: bool, keyed: dict[Any, Counter[str]], with_mode: bool) -> None:
        out(title)
        if truth:
            hdr = f"{'variant':<44}{'n':>4}{'merged':>8}{'review':>8}{'rev→oth':>8}{'missed':>8}{'recall':>8}"
        else:
            hdr = f"{'look-alike':<44}{'n':>4}{'FALSE-MERGE':>12}{'review':>8}{'rev→oth':>8}{'kept apart':>11}"
        out(hdr)
        out("-" * len(hdr))
        for key in sorted(k for k in keyed if k[0] == truth):
            c = keyed[key]
            label = key[1] + (f" / {key[2]}" if with_mode else "")
            tot = sum(c.values())
            if truth:
                out(
                    f"{label:<44}{tot:>4}{c['merged']:>8}{c['review_right']:>8}{c['review_other']:>8}"
                    f"{c['separate']:>8}{c['merged'] / tot:>8.0%}"
                )
            else:
                out(
                    f"{label:<44}{tot:>4}{c['merged'] + c['merged_elsewhere']:>12}{c['review_right']:>8}"
                    f"{c['review_other']:>8}{c['separate']:>11}"
                )
        out()

    table(
        "SAME-PERSON VARIANTS (pair: variant submission vs the person's first submission)",
        True,
        rows,
        False,
    )
    table("SAME-PERSON VARIANTS by contact mode", True, rows_mode, True)
    table(
        "DIFFERENT-PEOPLE LOOK-ALIKES (pair: look-alike vs the person it mimics)",
        False,
        rows,
        False,
    )
    table("DIFFERENT-PEOPLE LOOK-ALIKES by mode", False, rows_mode, True)

    # --- all false merges --------------------------------------------------------------
    out("=" * 100)
    out(f"EVERY FALSE MERGE ({len(false_pairs)} pairs). For each, the later submission's detail.")
    out("=" * 100)
    for a, b in sorted(false_pairs, key=lambda ab: (ab[1].t, ab[0].t)):
        first, second = (a, b) if a.t <= b.t else (b, a)
        out(
            f"[{second.variant}{'/' + second.mode if second.mode else ''}]  "
            f"(first person's submission is {first.variant})"
        )
        out(f"  A {describe(first)}")
        out(f"  B {describe(second)}")
        out(f"  B matched_by={second.matched_by} detail: {second.detail}")
        if first.lead == second.lead and not first.created and first.matched_by != "new":
            out(f"  A matched_by={first.matched_by} detail: {first.detail}")
        out()

    # --- all missed same-person pairs ----------------------------------------------------
    out("=" * 100)
    out(f"EVERY MISSED SAME-PERSON PAIR ({len(missed_pairs)} pairs)")
    out("=" * 100)
    for a, b in sorted(missed_pairs, key=lambda ab: (ab[1].variant, ab[1].t)):
        first, second = (a, b) if a.t <= b.t else (b, a)
        tag = second.variant if second.variant != "base" else first.variant
        out(
            f"[{tag}{'/' + second.mode if second.mode else ''}]  review={'yes' if second.review_of else 'no'}"
            f"{' (right lead)' if second.review_of == first.lead else ''}"
        )
        out(f"  A {describe(first)}")
        out(f"  B {describe(second)}")
        out(f"  B detail: {second.detail}")
        out()

    # --- every look-alike probe, and every review -------------------------------------
    out("=" * 100)
    out("EVERY LOOK-ALIKE PROBE (look-alike B vs the person A it mimics)")
    out("=" * 100)
    for s in sorted(
        (s for s in subs if s.truth_same is False), key=lambda s: (s.variant, s.mode, s.t)
    ):
        a = by_sid[s.twin_sid]
        oc = probe_outcome(a, s)
        out(f"[{s.variant}/{s.mode}] -> {oc.upper()}")
        out(f"  A {describe(a)}")
        out(f"  B {describe(s)}")
        out(f"  B detail: {s.detail}")
        out()
    out("=" * 100)
    out(f"EVERY REVIEW ({n_reviews})")
    out("=" * 100)
    lead_people: dict[uuid.UUID, set[int]] = defaultdict(set)
    for s in subs:
        lead_people[s.lead].add(s.pid)
    for s in subs:
        if s.review_of is None:
            continue
        right = s.pid in lead_people[s.review_of]
        out(
            f"[{s.variant}/{s.mode}] review {'CORRECT (same person)' if right else 'different person'}"
        )
        out(f"  B {describe(s)}")
        out(f"  B detail: {s.detail}")
        out()

    text = "\n".join(lines)
    report = ROOT / "tests" / "bench" / "results" / "dedupe-holdout.txt"
    report.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
