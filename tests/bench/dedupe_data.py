"""Generated people for the dedupe benchmark (``tests/bench/dedupe.py``), deterministic from a
seed: realistic names of several cultures (diacritics included), companies with legal
suffixes and domains (multi-part public suffixes, subdomains), and the web forms they fill in,
as typed (any phone format, any case), before ingest normalizes them.

Every :class:`Submission` names the real person it came from (the ground truth) and its
*kind*. A person's first submission is ``first``; each repeat is one labelled variant of it
(:data:`SAME_KINDS`). Some people are generated in look-alike groups (:data:`APART_KINDS`):
different people the router must keep apart.

Same person, another submission (each repeat changes one thing; a repeat whose kind tests
names carries a contact, email or phone, the person never used before, so that no identity
matches and only the name and company can):

- ``exact_repeat``: the same form again (control).
- ``email_case_dots_plus``: the address in upper case, gmail with other dots, plus tags,
  googlemail.com; a plus tag at a company domain too (not an alias there: name and
  company must match it).
- ``phone_format``: the same number in another format, no email or another address.
- ``name_typo``: one letter substituted, dropped, doubled or transposed.
- ``company_written_differently``: case, punctuation, "&"/"and", "The", the sector word dropped.
- ``nickname``: Robert -> Bob, Katherine -> Kate, ... with another address (bob.smith@ or a
  personal one).
- ``diacritics``: Müller -> Mueller / Muller, José -> Jose, Dvořák -> Dvorak, Søren -> Soren.
- ``swapped_name``: first and last name swapped.
- ``subdomain``: the company domain as a subdomain (mail.acme.de, shop.acme.co.uk) on one side.
- ``legal_suffix``: the legal form dropped, added or written another way (Ltd / Limited,
  GmbH & Co. KG / GmbH).
- ``phone_only``: phone, no email, same name and company (the known number or a new one).

Different people:

- ``shared_number``: two or three colleagues who give the company switchboard.
- ``same_name_other_company``: the same name at another company (a third of the pairs at two
  companies under one multi-part suffix such as .co.uk).
- ``same_surname_colleagues``: colleagues sharing a surname (some with first names one letter
  apart: Paul / Paula, Daniel / Daniela).
- ``role_address``: two or three colleagues writing from info@, sales@, ...

Pairs of submissions (:func:`pair_kind`) are labelled by these kinds; other pairs of one person
are ``two_variants`` (two repeats), of different people ``colleagues`` (same company) or
``unrelated``. Outside the look-alike groups names are unique and no two people at one
company share a surname, so these labels are the whole truth.
"""

from __future__ import annotations

import random
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import phonenumbers

from shared.domain.contact import PLUS_TAG_DOMAINS, canonical_email, company_domain

SAME_KINDS = (
    "exact_repeat",
    "email_case_dots_plus",
    "phone_format",
    "name_typo",
    "company_written_differently",
    "nickname",
    "diacritics",
    "swapped_name",
    "subdomain",
    "legal_suffix",
    "phone_only",
)
APART_KINDS = (
    "shared_number",
    "same_name_other_company",
    "same_surname_colleagues",
    "role_address",
)
# pairs no generated variant or group targets
OTHER_SAME = "two_variants"
OTHER_APART = ("colleagues", "unrelated")
ALL_PAIR_KINDS = (*SAME_KINDS, OTHER_SAME, *APART_KINDS, *OTHER_APART)
# kinds whose repeat carries a contact the person never used (only name and company can match)
FRESH_CONTACT_KINDS = frozenset(
    {
        "name_typo",
        "company_written_differently",
        "nickname",
        "diacritics",
        "swapped_name",
        "subdomain",
        "legal_suffix",
    }
)
# relative frequency of each repeat kind (identity repeats dominate real traffic)
KIND_WEIGHTS = {
    "exact_repeat": 20,
    "email_case_dots_plus": 10,
    "phone_format": 9,
    "name_typo": 8,
    "company_written_differently": 8,
    "nickname": 20,  # fewer people have a nickname or diacritics: more of those who do
    "diacritics": 14,
    "swapped_name": 5,
    "subdomain": 7,
    "legal_suffix": 8,
    "phone_only": 9,
}
# submissions per person (most 1-3)
SUBMISSIONS_PER_PERSON = ((1, 30), (2, 25), (3, 20), (4, 10), (5, 8), (6, 4), (7, 2), (8, 1))
# look-alike groups per 100 people, and people per group
GROUPS_PER_100 = {
    "shared_number": (4, (2, 3)),
    "same_name_other_company": (4, (2, 2)),
    "same_surname_colleagues": (5, (2, 3)),
    "role_address": (3, (2, 3)),
}
START = datetime(2026, 9, 1, tzinfo=UTC)
SPAN_DAYS = 90

# --------------------------------------------------------------------------- names


@dataclass(frozen=True)
class Culture:
    name: str
    countries: tuple[str, ...]
    male: tuple[str, ...]
    female: tuple[str, ...]
    last: tuple[str, ...]
    german_transliteration: bool = False  # ä -> ae, ö -> oe, ü -> ue in addresses


def _names(text: str) -> tuple[str, ...]:
    """``"Robert, William, de Vries"`` -> the names (a name may contain spaces)."""
    return tuple(name.strip() for name in text.split(","))


CULTURES = (
    Culture(
        "english",
        ("US", "GB", "IE", "AU"),
        _names(
            "Robert, William, James, Michael, Richard, Thomas, Christopher, Jonathan, "
            "Alexander, Daniel, Joseph, Anthony, Nicholas, Samuel, Andrew, Edward, Charles, "
            "Benjamin, Matthew, Steven, Timothy, David, Patrick, Gregory, Kevin, Brian, "
            "Scott, Ryan, Eric, Paul, Louis"
        ),
        _names(
            "Katherine, Elizabeth, Margaret, Jennifer, Patricia, Rebecca, Susan, Deborah, "
            "Victoria, Jacqueline, Christine, Sarah, Emily, Laura, Rachel, Hannah, Olivia, "
            "Megan, Amanda, Zoë, Chloë, Renée, Paula, Erica, Louise, Danielle"
        ),
        _names(
            "Smith, Johnson, Williams, Brown, Jones, Miller, Davis, Wilson, Taylor, Anderson, "
            "Moore, Clark, Lewis, Walker, Hall, Young, King, Wright, Scott, Green, Baker, "
            "Adams, Nelson, Carter, Mitchell, Roberts, Turner, Phillips, Campbell, Parker, "
            "Evans, Edwards, Collins, Stewart, Morris, Murphy, Cook, Rogers, Morgan, Cooper, "
            "O'Brien, O'Neill, McCarthy, Fitzgerald, Sullivan, Hughes, Price"
        ),
    ),
    Culture(
        "german",
        ("DE", "AT", "CH"),
        _names(
            "Jürgen, Jörg, Günter, Lukas, Stefan, Matthias, Uwe, Johannes, Wolfgang, "
            "Maximilian, Florian, Tobias, Sebastian, Andreas, Björn, Sören, Jan, Paul, "
            "Daniel, Julian, Felix, Moritz"
        ),
        _names(
            "Anna, Katharina, Sabine, Ursula, Franziska, Jülide, Lena, Sophie, Birgit, Petra, "
            "Käthe, Jana, Daniela, Julia, Annika, Hannelore"
        ),
        _names(
            "Müller, Schröder, Schäfer, Weiß, Köhler, Krüger, Hoffmann, Schmidt, Wagner, "
            "Becker, Fischer, Jäger, Böhm, Lösch, Günther, Schulze, Groß, Vogel, Braun, "
            "Zimmermann, Hartmann, Kühn, Wolff, Lehmann, Bäcker, Fuchs, Möller, Schütz, "
            "Seidel, Förster"
        ),
        german_transliteration=True,
    ),
    Culture(
        "french",
        ("FR", "CH"),
        _names(
            "François, Jérôme, Benoît, Noël, Étienne, Frédéric, Hervé, Loïc, Mathieu, "
            "Nicolas, Julien, Guillaume, Antoine, Thierry, Louis"
        ),
        _names(
            "Élodie, Hélène, Céline, Amélie, Gaëlle, Zoé, Margaux, Chloé, Mélanie, Sophie, "
            "Camille, Inès, Louise, Océane"
        ),
        _names(
            "Lefèvre, Dupont, Girard, Bélanger, Gérard, Moreau, Rousseau, Fournier, Lemaître, "
            "Benoît, Mercier, Faure, Chevalier, Lambert, Bonnet, Fontaine, Léger, Brûlé, "
            "Ménard, Hébert"
        ),
    ),
    Culture(
        "spanish",
        ("ES",),
        _names(
            "José, Jesús, Andrés, Sebastián, Iñaki, Alejandro, Francisco, Guillermo, Álvaro, "
            "Rubén, Martín, Raúl, Adrián"
        ),
        _names("María, Lucía, Begoña, Ana, Inés, Mónica, Raquel, Verónica, Sofía, Adriana, Marta"),
        _names(
            "García, Martínez, Rodríguez, Núñez, Muñoz, Peña, Ibáñez, López, Sánchez, Pérez, "
            "Gómez, Díaz, Fernández, Hernández, Jiménez, Álvarez, Romero, Castaño"
        ),
    ),
    Culture(
        "czech",
        ("CZ",),
        _names("Jiří, Tomáš, Lukáš, Petr, Jan, Václav, Miroslav, Ondřej, Pavel"),
        _names("Zuzana, Kateřina, Jana, Lenka, Tereza, Veronika, Markéta, Eliška"),
        _names(
            "Dvořák, Novák, Černý, Svoboda, Procházka, Kučera, Veselý, Horák, Němec, Růžička, "
            "Král, Beneš"
        ),
    ),
    Culture(
        "polish",
        ("PL",),
        _names("Łukasz, Paweł, Piotr, Krzysztof, Tomasz, Michał, Grzegorz, Wojciech"),
        _names("Małgorzata, Katarzyna, Agnieszka, Joanna, Magdalena, Żaneta, Ewa"),
        _names(
            "Wójcik, Kowalski, Zieliński, Wiśniewski, Lewandowski, Kamiński, Dąbrowski, "
            "Nowak, Szymański, Woźniak, Kozłowski, Jabłoński"
        ),
    ),
    Culture(
        "nordic",
        ("SE", "DK"),
        _names("Søren, Bjørn, Jørgen, Lars, Anders, Mikael, Henrik, Magnus, Nils"),
        _names("Åsa, Ingrid, Sigrid, Maja, Linnéa, Astrid, Mette, Karin, Frida"),
        _names(
            "Sørensen, Ødegaard, Åberg, Lindström, Björk, Nyström, Ångström, Johansson, "
            "Andersson, Nielsen, Møller, Holm, Lindqvist, Dahl"
        ),
    ),
    Culture(
        "dutch",
        ("NL",),
        _names("Daan, Thijs, Sem, Bram, Joris, Ruud, Maarten, Pieter, Jeroen"),
        _names("Zoë, Sanne, Femke, Anouk, Lotte, Eline, Marloes, Noor"),
        _names(
            "de Vries, van der Berg, Jansen, Bakker, Visser, Smit, Meijer, de Boer, Mulder, "
            "van Dijk, Bos, Vos, de Groot"
        ),
    ),
    Culture(
        "indian",
        ("IN", "GB", "US"),
        _names("Rahul, Vikram, Arjun, Sanjay, Rohan, Anil, Karthik, Suresh, Amit"),
        _names("Priya, Ananya, Divya, Kavya, Lakshmi, Meera, Pooja, Sneha, Aditi"),
        _names(
            "Sharma, Patel, Gupta, Iyer, Reddy, Nair, Kumar, Singh, Rao, Mehta, Joshi, "
            "Chatterjee, Banerjee, Desai"
        ),
    ),
    Culture(
        "chinese",
        ("US", "GB", "AU"),
        _names("Wei, Jun, Hao, Lei, Ming, Tao, Yong, Jian, Bo"),
        _names("Li Na, Fang, Xiu, Mei, Ying, Jing, Yan, Hui, Ling"),
        _names("Wang, Zhang, Chen, Liu, Yang, Huang, Zhao, Wu, Zhou, Xu, Sun"),
    ),
    Culture(
        "turkish",
        ("TR", "DE"),
        _names("Çağlar, Gökhan, Emre, Murat, Oğuz, Bar\u0131ş, Serkan, Kemal, Ömer"),
        _names("Şule, Ayşe, Elif, Zeynep, Gülşen, Özlem, Deniz, Büşra, Yasemin"),
        _names(
            "Öztürk, Y\u0131lmaz, Çelik, Kaya, Demir, Şahin, Ayd\u0131n, Özdemir, Arslan, "
            "Doğan, K\u0131l\u0131ç, Aslan"
        ),
    ),
)
CULTURE_BY_COUNTRY: dict[str, tuple[Culture, ...]] = {}
for _culture in CULTURES:
    for _country in _culture.countries:
        CULTURE_BY_COUNTRY.setdefault(_country, ())
        CULTURE_BY_COUNTRY[_country] += (_culture,)

# formal first name -> what the person also goes by
NICKNAMES = {
    "Robert": ("Bob", "Rob", "Bobby"),
    "William": ("Bill", "Will", "Billy"),
    "James": ("Jim", "Jimmy", "Jamie"),
    "Michael": ("Mike", "Mick"),
    "Richard": ("Rick", "Dick", "Rich"),
    "Thomas": ("Tom", "Tommy"),
    "Christopher": ("Chris", "Topher"),
    "Jonathan": ("Jon", "Johnny"),
    "Alexander": ("Alex", "Sasha"),
    "Daniel": ("Dan", "Danny"),
    "Joseph": ("Joe", "Joey"),
    "Anthony": ("Tony",),
    "Nicholas": ("Nick", "Nicky"),
    "Samuel": ("Sam", "Sammy"),
    "Andrew": ("Andy", "Drew"),
    "Edward": ("Ed", "Ted", "Eddie"),
    "Charles": ("Charlie", "Chuck"),
    "Benjamin": ("Ben", "Benny"),
    "Matthew": ("Matt",),
    "Steven": ("Steve",),
    "Timothy": ("Tim",),
    "David": ("Dave",),
    "Patrick": ("Pat", "Paddy"),
    "Gregory": ("Greg",),
    "Katherine": ("Kate", "Kathy", "Katie"),
    "Elizabeth": ("Liz", "Beth", "Lizzie", "Betty"),
    "Margaret": ("Maggie", "Peggy", "Meg"),
    "Jennifer": ("Jen", "Jenny"),
    "Patricia": ("Pat", "Trish", "Patty"),
    "Rebecca": ("Becky", "Becca"),
    "Susan": ("Sue", "Susie"),
    "Deborah": ("Debbie", "Deb"),
    "Victoria": ("Vicky", "Tori"),
    "Jacqueline": ("Jackie",),
    "Christine": ("Chris", "Chrissy"),
    "Amanda": ("Mandy",),
    "Johannes": ("Hannes",),
    "Wolfgang": ("Wolf",),
    "Franziska": ("Franzi",),
    "Maximilian": ("Max",),
    "Sebastian": ("Basti",),
    "Katharina": ("Kathi", "Kati"),
    "Alejandro": ("Alex", "Ale"),
    "Francisco": ("Paco", "Pancho"),
    "José": ("Pepe",),
    "Guillermo": ("Memo",),
    "Małgorzata": ("Gosia",),
    "Katarzyna": ("Kasia",),
    "Krzysztof": ("Krzyś",),
    "Nicolas": ("Nico",),
    "Frédéric": ("Fred",),
}
# first names one letter apart that are different people (colleagues sharing a surname)
SIMILAR_FIRST_NAMES = (
    ("Paul", "Paula"),
    ("Daniel", "Daniela"),
    ("Daniel", "Danielle"),
    ("Eric", "Erica"),
    ("Jan", "Jana"),
    ("Louis", "Louise"),
    ("Julian", "Julia"),
    ("Adrian", "Adriana"),
)
# characters NFKD does not take apart, and the German spellings of umlauts
ASCII_LETTERS = {"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "ß": "ss", "æ": "ae", "Æ": "Ae", "\u0131": "i", "đ": "d"}  # fmt: skip
GERMAN_LETTERS = {"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss", "ø": "oe", "Ø": "Oe", "å": "aa", "Å": "Aa", "æ": "ae"}  # fmt: skip


def ascii_fold(text: str) -> str:
    """``Dvořák`` -> ``Dvorak``, ``Søren`` -> ``Soren``, ``Weiß`` -> ``Weiss``."""
    text = "".join(ASCII_LETTERS.get(ch, ch) for ch in text)
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")


def german_fold(text: str) -> str:
    """``Müller`` -> ``Mueller``, ``Søren`` -> ``Soeren``; other marks dropped."""
    return ascii_fold("".join(GERMAN_LETTERS.get(ch, ch) for ch in text))


def transliterations(name: str) -> list[str]:
    """The ways ``name`` is written without its diacritics (none when it has none)."""
    if name.isascii():
        return []
    out = []
    for variant in (german_fold(name), ascii_fold(name)):
        if variant != name and variant not in out:
            out.append(variant)
    return out


# --------------------------------------------------------------------------- companies

ROOTS = (
    "Acme", "Globex", "Initech", "Hooli", "Vandelay", "Brightwater", "Northwind", "Redwood",
    "Silverline", "Ironbridge", "Greenfield", "Lakeside", "Summit", "Pinnacle", "Horizon",
    "Meridian", "Keystone", "Atlas", "Orion", "Vertex", "Quantum", "Apex", "Sterling",
    "Harbor", "Crescent", "Evergreen", "Falcon", "Granite", "Beacon", "Cobalt", "Cedar",
    "Maple", "Zentrix", "Valora", "Nexora", "Bluepeak", "Stonegate", "Clearwater", "Oakridge",
    "Riverbend", "Sunburst", "Wildrose", "Blackthorn", "Copperfield", "Foxglove", "Highgate",
    "Kingsbridge", "Larkspur", "Moorland", "Nightingale", "Pemberton", "Queensway",
    "Ravenscroft", "Saltmarsh", "Thornbury", "Upland", "Westbrook", "Yellowstone", "Zephyr",
    "Altamira", "Borealis", "Caldera", "Dorado", "Esperanza", "Fjord", "Gallant", "Halcyon",
    "Lumina", "Mistral", "Nimbus", "Obsidian", "Paragon", "Quasar", "Solstice", "Tundra",
    "Helix", "Kestrel", "Juniper", "Sequoia", "Trident", "Vanguard", "Windmill", "Axiom",
)  # fmt: skip
LOCAL_ROOTS = {
    "DE": ("Nordlicht", "Bergmann", "Schwarzwald", "Rheintal", "Müller", "Grün", "Köhler", "Weißenburg", "Alpenblick", "Hansa"),
    "AT": ("Donau", "Tiroler", "Alpenländische", "Wienerwald"),
    "CH": ("Helvetia", "Zürichsee", "Jungfrau", "Matterhorn"),
    "FR": ("Lumière", "Étoile", "Côte d'Azur", "Bellevue", "Mistral", "Château"),
    "ES": ("Ibérica", "Sol y Mar", "Castilla", "Montaña", "Andalucía"),
    "CZ": ("Vltava", "Moravská", "Šumava", "Český Krumlov"),
    "PL": ("Wisła", "Mazowsze", "Bałtyk", "Tatry"),
    "SE": ("Nordström", "Fjällbacka", "Skärgård"),
    "DK": ("Øresund", "Nørrebro", "Skagen"),
    "NL": ("Zuiderzee", "Tulpen", "Delfts", "Oranje"),
    "TR": ("Boğaziçi", "Anadolu", "Ege", "Kapadokya"),
    "IN": ("Ganga", "Himalaya", "Sahyadri", "Kaveri"),
}  # fmt: skip
SECTORS = {
    "en": ("Analytics", "Logistics", "Systems", "Software", "Consulting", "Partners", "Labs", "Robotics", "Foods", "Energy", "Media", "Health", "Capital", "Technologies", "Solutions", "Engineering", "Holdings", "Group", "Networks", "Dynamics"),
    "de": ("Maschinenbau", "Logistik", "Technik", "Werke", "Bau", "Gruppe", "Präzisionstechnik", "Elektrotechnik", "Verpackung", "Software"),
    "fr": ("Conseil", "Technologies", "Industries", "Services", "Systèmes", "Énergie"),
    "es": ("Soluciones", "Tecnología", "Grupo", "Servicios", "Logística", "Energía"),
    "other": ("Systems", "Software", "Logistics", "Technologies", "Group", "Solutions", "Industries"),
}  # fmt: skip
SECTOR_LANGUAGE = {"US": "en", "GB": "en", "IE": "en", "AU": "en", "IN": "en", "DE": "de", "AT": "de", "CH": "de", "FR": "fr", "ES": "es"}  # fmt: skip
# legal forms by country: (as usually written, other ways people write it)
LEGAL_FORMS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "US": (("Inc.", ("Inc", "Incorporated", ", Inc.")), ("LLC", ("L.L.C.", ", LLC")), ("Corp.", ("Corporation", "Corp"))),
    "GB": (("Ltd", ("Limited", "Ltd.")), ("plc", ("PLC",)), ("LLP", ())),
    "IE": (("Ltd", ("Limited", "Ltd.")), ("DAC", ())),
    "AU": (("Pty Ltd", ("Pty. Ltd.", "Pty Limited", "Ltd")),),
    "IN": (("Pvt Ltd", ("Private Limited", "Pvt. Ltd.")), ("Ltd", ("Limited",))),
    "DE": (("GmbH", ()), ("AG", ()), ("GmbH & Co. KG", ("GmbH & Co KG", "GmbH")), ("KG", ())),
    "AT": (("GmbH", ()), ("AG", ())),
    "CH": (("AG", ()), ("GmbH", ()), ("SA", ("S.A.",))),
    "FR": (("SAS", ("S.A.S.",)), ("S.A.", ("SA",)), ("SARL", ("S.A.R.L.",))),
    "ES": (("S.L.", ("SL", "S.L.U.")), ("S.A.", ("SA",))),
    "CZ": (("s.r.o.", ("spol. s r.o.", "sro")), ("a.s.", ())),
    "PL": (("Sp. z o.o.", ("sp. z o.o.", "Sp z oo")), ("S.A.", ("SA",))),
    "SE": (("AB", ("Aktiebolag",)),),
    "DK": (("A/S", ("AS",)), ("ApS", ())),
    "NL": (("B.V.", ("BV",)), ("N.V.", ("NV",))),
    "TR": (("A.Ş.", ("AŞ", "A.S.")), ("Ltd. Şti.", ("Ltd Sti",))),
}  # fmt: skip
TLDS = {
    "US": ("com", "io", "com", "us"), "GB": ("co.uk", "co.uk", "com"), "IE": ("ie", "com"),
    "AU": ("com.au", "com.au", "com"), "IN": ("co.in", "in", "com"), "DE": ("de", "de", "com"),
    "AT": ("at", "co.at"), "CH": ("ch",), "FR": ("fr", "fr", "com"), "ES": ("es", "com"),
    "CZ": ("cz",), "PL": ("pl", "com.pl"), "SE": ("se",), "DK": ("dk",), "NL": ("nl", "com"),
    "TR": ("com.tr",),
}  # fmt: skip
MULTI_PART_SUFFIXES = ("co.uk", "com.au", "co.in", "co.at", "com.pl", "com.tr")
SUBDOMAINS = ("mail", "shop", "eu", "uk", "corp", "go", "app", "de", "en", "global")
ROLE_MAILBOXES = ("info", "sales", "contact", "office", "hello", "team", "marketing", "admin")
EMAIL_PATTERNS = ("first.last", "first.last", "flast", "f.last", "first", "firstl", "first_last")
COUNTRY_WEIGHTS = {
    "US": 26, "GB": 12, "DE": 12, "FR": 7, "ES": 5, "AU": 5, "IN": 5, "NL": 4, "CH": 3,
    "AT": 2, "CZ": 3, "PL": 3, "SE": 3, "DK": 2, "IE": 2, "TR": 3,
}  # fmt: skip
# free mail: the providers ingest knows, and a few it does not (seznam.cz, wp.pl, ...)
FREE_MAIL = {
    "default": (("gmail.com", 50), ("outlook.com", 12), ("yahoo.com", 8), ("hotmail.com", 8), ("icloud.com", 6), ("proton.me", 2), ("aol.com", 1)),
    "GB": (("gmail.com", 45), ("hotmail.co.uk", 12), ("btinternet.com", 8), ("outlook.com", 10), ("yahoo.co.uk", 8)),
    "DE": (("gmail.com", 30), ("web.de", 20), ("gmx.de", 20), ("t-online.de", 10), ("yahoo.de", 5)),
    "AT": (("gmail.com", 40), ("gmx.at", 20), ("gmx.net", 10)),
    "CH": (("gmail.com", 40), ("bluewin.ch", 20), ("gmx.net", 10)),
    "FR": (("gmail.com", 40), ("orange.fr", 20), ("free.fr", 15), ("yahoo.fr", 8)),
    "CZ": (("gmail.com", 35), ("seznam.cz", 40)),
    "PL": (("gmail.com", 40), ("wp.pl", 25), ("o2.pl", 10)),
    "IN": (("gmail.com", 70), ("yahoo.com", 10), ("rediffmail.com", 10)),
}  # fmt: skip
JOB_TITLES = ("VP of Sales", "Head of Marketing", "CTO", "Software Engineer", "Procurement Manager", "Operations Director", "CEO", "Data Analyst", "IT Manager", "Founder", "Marketing Coordinator", "Student")  # fmt: skip
SIZES = ("1-10", "11-50", "51-200", "201-500", "501-1000", "1001-5000", "5001+", "250", "40")
INDUSTRIES = ("Software", "Manufacturing", "Retail", "Finance", "Healthcare", "Logistics", "Education")  # fmt: skip
MESSAGES = (
    "We need a demo for 40 seats this quarter",
    "Please send pricing",
    "Interested in the webinar recording",
    "Downloaded the whitepaper",
    "Call me back about an integration",
    None,
)
FORMS = ("demo-request", "contact", "webinar", "whitepaper", "pricing", "newsletter")

# phone numbers: (country calling code, national number templates; x = any digit)
PHONE_PLANS: dict[str, tuple[int, tuple[str, ...], tuple[str, ...]]] = {
    # country: (code, landline templates, mobile templates)
    "US": (1, ("212xxxxxxx", "415xxxxxxx", "617xxxxxxx", "312xxxxxxx", "206xxxxxxx", "512xxxxxxx"), ("646xxxxxxx", "917xxxxxxx", "628xxxxxxx")),
    "GB": (44, ("20xxxxxxxx", "161xxxxxxx", "131xxxxxxx"), ("74xxxxxxxx", "77xxxxxxxx", "79xxxxxxxx")),
    "IE": (353, ("1xxxxxxx",), ("85xxxxxxx", "87xxxxxxx")),
    "AU": (61, ("2xxxxxxxx", "3xxxxxxxx"), ("4xxxxxxxx",)),
    "IN": (91, ("22xxxxxxxx", "80xxxxxxxx"), ("98xxxxxxxx", "99xxxxxxxx")),
    "DE": (49, ("30xxxxxxxx", "89xxxxxxx", "40xxxxxxx", "69xxxxxxx"), ("151xxxxxxxx", "160xxxxxxx", "171xxxxxxxx")),
    "AT": (43, ("1xxxxxxx",), ("664xxxxxxx",)),
    "CH": (41, ("44xxxxxxx", "22xxxxxxx"), ("79xxxxxxx",)),
    "FR": (33, ("1xxxxxxxx", "4xxxxxxxx"), ("6xxxxxxxx", "7xxxxxxxx")),
    "ES": (34, ("91xxxxxxx", "93xxxxxxx"), ("6xxxxxxxx",)),
    "CZ": (420, ("2xxxxxxxx",), ("6xxxxxxxx", "7xxxxxxxx")),
    "PL": (48, ("22xxxxxxx",), ("5xxxxxxxx", "6xxxxxxxx")),
    "SE": (46, ("8xxxxxxx",), ("70xxxxxxx",)),
    "DK": (45, ("3xxxxxxx",), ("2xxxxxxx",)),
    "NL": (31, ("20xxxxxxx",), ("6xxxxxxxx",)),
    "TR": (90, ("212xxxxxxx",), ("5xxxxxxxxx",)),
}  # fmt: skip


@dataclass(frozen=True)
class Company:
    index: int
    name: str  # the name without its legal form: "Brightwater Analytics"
    legal_form: str | None  # "Ltd"; None when the company is written without one
    legal_variants: tuple[str, ...]  # other ways the legal form is written
    domain: str  # registrable domain: "brightwater.co.uk"
    country: str
    switchboard: str  # E.164
    email_pattern: str
    subdomain: str  # "mail": mail.brightwater.co.uk is the company too

    @property
    def written(self) -> str:
        """As its people usually write it: "Brightwater Analytics Ltd"."""
        return with_legal_form(self.name, self.legal_form)


@dataclass(frozen=True)
class Person:
    index: int
    first: str
    last: str
    culture: str
    company: int  # Company.index
    country: str
    work_email: str  # at the company domain
    alias_email: str  # another address at the company domain (bob.smith@ for Robert Smith)
    personal_email: str  # free mail
    mobile: str  # E.164
    style: str  # how the first form is filled: work | personal | phone
    group: str | None = None  # look-alike group id: "shared_number:3"


@dataclass(frozen=True)
class Submission:
    index: int
    person: int  # Person.index: the ground truth
    kind: str  # "first" or one of SAME_KINDS
    detail: str  # which sub-variant: "gmail plus tag", "legal form dropped", ...
    contact: (
        str  # what contact it carries: "same", "work_alias", "personal_email", "new_phone", ...
    )
    at: datetime
    form: dict[str, Any]  # the fields as submitted, before ingest normalizes them


@dataclass
class Dataset:
    seed: int
    companies: list[Company]
    people: list[Person]
    submissions: list[Submission]  # in time order
    groups: dict[str, tuple[str, tuple[int, ...]]] = field(
        default_factory=dict
    )  # id -> (kind, people)

    def pair_kind(self, a: Submission, b: Submission) -> str:
        """What the pair of submissions is: a variant kind (same person) or a look-alike."""
        if a.person == b.person:
            if a.kind == "first":
                return b.kind
            if b.kind == "first":
                return a.kind
            return OTHER_SAME
        pa, pb = self.people[a.person], self.people[b.person]
        if pa.group is not None and pa.group == pb.group:
            return self.groups[pa.group][0]
        return "colleagues" if pa.company == pb.company else "unrelated"

    def group_detail(self, gid: str) -> str:
        """Which sub-variant a look-alike group is (read from the data, for the report)."""
        kind, members = self.groups[gid]
        people = [self.people[i] for i in members]
        firsts = {}
        for s in self.submissions:
            if s.person in members:
                firsts.setdefault(s.person, s.form)
        if kind == "same_surname_colleagues":
            names = {p.first for p in people}
            similar = any(set(pair) <= names for pair in SIMILAR_FIRST_NAMES)
            return "first names one letter apart" if similar else "different first names"
        if kind == "shared_number":
            with_email = sum(1 for i in members if firsts[i].get("email"))
            if with_email == len(members):
                return "each with an own address"
            return "no addresses" if with_email == 0 else "some without an address"
        if kind == "role_address":
            return firsts[members[0]]["email"].split("@")[0] + "@"
        domains = [self.companies[p.company].domain for p in people]
        suffix = next((x for x in MULTI_PART_SUFFIXES if all(d.endswith(x) for d in domains)), None)
        return f"both under .{suffix}" if suffix else "other domains"


def with_legal_form(name: str, form: str | None) -> str:
    if not form:
        return name
    if form.startswith(","):
        return f"{name}{form}"
    return f"{name} {form}"


# --------------------------------------------------------------------------- generator


class _Gen:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.seed = seed
        self.phones: set[str] = set()
        self.emails: set[str] = set()  # canonical
        self.domains: set[str] = set()
        self.names: set[tuple[str, str]] = set()
        self.surnames_at: dict[int, set[str]] = {}
        self.companies: list[Company] = []
        self.people: list[Person] = []
        self.group_companies: dict[str, set[int]] = {}

    # -- small pieces -------------------------------------------------------------------

    def weighted(self, pairs: Sequence[tuple[Any, int]]) -> Any:
        values = [v for v, _ in pairs]
        weights = [w for _, w in pairs]
        return self.rng.choices(values, weights)[0]

    def phone(self, country: str, mobile: bool) -> str:
        code, landlines, mobiles = PHONE_PLANS[country]
        for _ in range(1000):
            template = self.rng.choice(mobiles if mobile else landlines)
            national = "".join(str(self.rng.randrange(10)) if c == "x" else c for c in template)
            number = phonenumbers.parse(f"+{code}{national}")
            if phonenumbers.is_valid_number(number):
                e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
                if e164 not in self.phones:
                    self.phones.add(e164)
                    return e164
        raise RuntimeError(f"no valid phone number for {country}")

    def company(self) -> Company:
        country = self.weighted(list(COUNTRY_WEIGHTS.items()))
        lang = SECTOR_LANGUAGE.get(country, "other")
        for _ in range(1000):
            local = LOCAL_ROOTS.get(country, ())
            root = self.rng.choice(local) if local and self.rng.random() < 0.35 else None
            root = root or self.rng.choice(ROOTS)
            sector = self.rng.choice(SECTORS[lang]) if self.rng.random() < 0.7 else None
            if sector and self.rng.random() < 0.08:
                name = f"{root} & {self.rng.choice(('Partners', 'Söhne' if lang == 'de' else 'Sons', 'Co'))}"
            else:
                name = f"{root} {sector}" if sector else root
            slug = german_fold(root).lower().replace(" ", "").replace("'", "")
            if sector and self.rng.random() < 0.4:
                slug += ("-" if self.rng.random() < 0.3 else "") + ascii_fold(sector).lower()
            domain = f"{slug}.{self.rng.choice(TLDS[country])}"
            if domain not in self.domains:
                break
        self.domains.add(domain)
        forms = LEGAL_FORMS[country]
        legal, variants = self.rng.choice(forms) if self.rng.random() < 0.75 else (None, ())
        company = Company(
            index=len(self.companies),
            name=name,
            legal_form=legal,
            legal_variants=variants,
            domain=domain,
            country=country,
            switchboard=self.phone(country, mobile=False),
            email_pattern=self.rng.choice(EMAIL_PATTERNS),
            subdomain=self.rng.choice(SUBDOMAINS),
        )
        self.companies.append(company)
        return company

    def local_part(self, first: str, last: str, pattern: str, german: bool) -> str:
        fold = german_fold if german else ascii_fold
        f = fold(first).lower().replace(" ", "").replace("'", "")
        last_words = fold(last).lower().replace("'", "").split()
        ln = "".join(last_words)
        return {
            "first.last": f"{f}.{ln}",
            "flast": f"{f[0]}{ln}",
            "f.last": f"{f[0]}.{ln}",
            "first": f,
            "firstl": f"{f}{ln[0]}",
            "first_last": f"{f}_{ln}",
            "last.first": f"{ln}.{f}",
            "lastf": f"{ln}{f[0]}",
        }[pattern]

    def unique_email(self, local: str, domain: str) -> str:
        candidate = f"{local}@{domain}"
        n = 1
        while canonical_email(candidate) in self.emails:
            n += 1
            candidate = f"{local}{n}@{domain}"
        self.emails.add(canonical_email(candidate))
        return candidate

    def free_mail(self, country: str) -> str:
        return self.weighted(FREE_MAIL.get(country, FREE_MAIL["default"]))

    def name(self, culture: Culture, company: int, first: str | None = None) -> tuple[str, str]:
        taken = self.surnames_at.setdefault(company, set())
        for _ in range(1000):
            given = first or self.rng.choice(
                culture.male if self.rng.random() < 0.5 else culture.female
            )
            last = self.rng.choice(culture.last)
            if (given, last) not in self.names and last not in taken:
                return given, last
        raise RuntimeError("ran out of names")

    def person(
        self,
        company: Company,
        *,
        culture: Culture | None = None,
        first: str | None = None,
        last: str | None = None,
        group: str | None = None,
        style: str | None = None,
    ) -> Person:
        if culture is None:
            local = CULTURE_BY_COUNTRY.get(company.country, ())
            culture = (
                self.rng.choice(local) if local and self.rng.random() < 0.8 else None
            ) or self.rng.choice(CULTURES)
        if last is None:
            first, last = self.name(culture, company.index, first)
        elif first is None:
            first = self.name(culture, company.index)[0]
        self.names.add((first, last))
        self.surnames_at.setdefault(company.index, set()).add(last)
        german = culture.german_transliteration or company.country in ("DE", "AT", "CH")
        work = self.unique_email(
            self.local_part(first, last, company.email_pattern, german), company.domain
        )
        alias_first = NICKNAMES.get(first, (first,))[0]
        alias_pattern = self.rng.choice(
            [
                p
                for p in ("first.last", "f.last", "flast", "last.first", "lastf")
                if p != company.email_pattern
            ]
        )
        alias = self.unique_email(
            self.local_part(alias_first, last, alias_pattern, german), company.domain
        )
        personal_pattern = self.rng.choice(
            ("first.last", "firstlast", "flast", "first.last.year", "first_last")
        )
        f = ascii_fold(first).lower().replace(" ", "")
        ln = ascii_fold(last).lower().replace(" ", "").replace("'", "")
        local_part = {
            "first.last": f"{f}.{ln}",
            "firstlast": f"{f}{ln}",
            "flast": f"{f[0]}{ln}",
            "first.last.year": f"{f}.{ln}{self.rng.randrange(60, 100)}",
            "first_last": f"{f}_{ln}",
        }[personal_pattern]
        personal = self.unique_email(local_part, self.free_mail(company.country))
        person = Person(
            index=len(self.people),
            first=first,
            last=last,
            culture=culture.name,
            company=company.index,
            country=company.country,
            work_email=work,
            alias_email=alias,
            personal_email=personal,
            mobile=self.phone(company.country, mobile=True),
            style=style or self.weighted((("work", 65), ("personal", 25), ("phone", 10))),
            group=group,
        )
        self.people.append(person)
        return person

    # -- forms --------------------------------------------------------------------------

    def phone_text(self, e164: str, country: str) -> tuple[str, bool]:
        """One way a person types the number, and whether it needs the form's country."""
        number = phonenumbers.parse(e164)
        intl = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
        national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
        digits = "".join(ch for ch in national if ch.isdigit())
        options: list[tuple[str, bool]] = [
            (e164, False),
            (intl, False),
            (intl.replace(" ", "-"), False),
            (national, True),
            (digits, True),
        ]
        if country in ("US",):
            options += [
                (f"{digits[:3]}.{digits[3:6]}.{digits[6:]}", True),
                (f"1-{digits[:3]}-{digits[3:6]}-{digits[6:]}", True),
            ]
        elif country not in ("AU",):  # 00 is the international prefix there (not 0011)
            options.append(("00" + intl[1:], True))
        if country in ("DE", "AT", "CH", "GB", "FR", "NL") and national.startswith("0"):
            code = intl.split(" ", 1)[0]
            options.append((f"{code} (0){national[1:]}", False))
        return self.rng.choice(options)

    def base_form(self, person: Person, company: Company) -> dict[str, Any]:
        form: dict[str, Any] = {
            "first_name": person.first,
            "last_name": person.last,
            "company": company.written,
            "job_title": self.rng.choice(JOB_TITLES),
            "company_size": self.rng.choice(SIZES),
            "industry": self.rng.choice(INDUSTRIES),
            "form_id": self.rng.choice(FORMS),
        }
        message = self.rng.choice(MESSAGES)
        if message:
            form["message"] = message
        if self.rng.random() < 0.85:
            form["country"] = person.country
        if person.style == "work":
            form["email"] = self.case(person.work_email, 0.1)
        elif person.style == "personal":
            form["email"] = self.case(person.personal_email, 0.1)
        if person.style == "phone" or self.rng.random() < 0.45:
            self.set_phone(form, person.mobile, person.country)
        if self.rng.random() < (0.25 if person.style != "work" else 0.12):
            form["website"] = self.website(company.domain)
        return form

    def website(self, domain: str) -> str:
        return self.rng.choice(
            (
                domain,
                f"www.{domain}",
                f"https://www.{domain}/",
                f"http://{domain}",
                f"https://{domain}/about",
            )
        )

    def set_phone(self, form: dict[str, Any], e164: str, country: str) -> None:
        text, needs_country = self.phone_text(e164, country)
        form["phone"] = text
        if needs_country:
            form["country"] = country

    def case(self, email: str, p: float) -> str:
        if self.rng.random() >= p:
            return email
        local, _, domain = email.partition("@")
        return f"{local.title()}@{domain.capitalize()}"


def generate(people: int = 600, seed: int = 1) -> Dataset:
    """About ``people`` people (look-alike groups included) and their submissions, in time
    order; the same arguments give the same dataset."""
    if people < 50:
        raise ValueError("at least 50 people (every kind needs room)")
    g = _Gen(seed)
    rng = g.rng
    n_companies = max(20, people // 4)
    for _ in range(n_companies):
        g.company()
    groups: dict[str, tuple[str, tuple[int, ...]]] = {}

    # look-alike groups first (their names are chosen before the unique background names)
    for kind, (per_100, (low, high)) in GROUPS_PER_100.items():
        for n in range(max(1, round(people * per_100 / 100))):
            gid = f"{kind}:{n}"
            size = rng.randint(low, high)
            members = _group(g, kind, gid, size)
            groups[gid] = (kind, tuple(p.index for p in members))
    while len(g.people) < people:
        g.person(rng.choice(g.companies))

    submissions: list[Submission] = []
    pending: list[tuple[Person, datetime, dict[str, Any]]] = []
    for person in g.people:
        at = START + timedelta(seconds=rng.uniform(0, SPAN_DAYS * 86400))
        form = g.base_form(person, g.companies[person.company])
        if person.group is not None:
            form = _group_form(g, person, groups[person.group][0], form)
        pending.append((person, at, form))
    firsts = {person.index: (at, form) for person, at, form in pending}

    # repeats: kinds drawn by weight among those that fit the person, each kind at least
    # a few times (so a small dataset still has every kind)
    counts = dict.fromkeys(SAME_KINDS, 0)
    minimum = max(3, people // 100)
    repeats: list[tuple[int, str, str, datetime, dict[str, Any]]] = []
    order = list(range(len(g.people)))
    rng.shuffle(order)
    for index in order:
        person = g.people[index]
        n_subs = g.weighted(SUBMISSIONS_PER_PERSON)
        first_at, first_form = firsts[index]
        used = _identities(first_form)
        at = first_at
        for _ in range(n_subs - 1):
            fits = [k for k in SAME_KINDS if _fits(g, person, k, first_form, used)]
            short = [k for k in fits if counts[k] < minimum]
            kind = (
                rng.choice(short)
                if short
                else rng.choices(fits, [KIND_WEIGHTS[k] for k in fits])[0]
            )
            form, detail, contact = _variant(g, person, kind, first_form, used)
            used |= _identities(form)
            counts[kind] += 1
            gap = rng.choice(
                (
                    timedelta(seconds=rng.uniform(5, 60)),  # submitted twice
                    timedelta(minutes=rng.uniform(5, 600)),
                    timedelta(days=rng.uniform(1, 30)),
                    timedelta(days=rng.uniform(1, 30)),
                    timedelta(days=rng.uniform(30, 90)),
                )
            )
            at = at + gap
            repeats.append((index, kind, detail, contact, at, form))

    rows = [
        (p.index, "first", p.group.split(":")[0] if p.group else "", p.style, at, form)
        for p, at, form in pending
    ] + repeats
    rows.sort(key=lambda r: (r[4], r[0]))
    submissions = [
        Submission(index=i, person=p, kind=k, detail=d, contact=c, at=at, form=form)
        for i, (p, k, d, c, at, form) in enumerate(rows)
    ]
    return Dataset(seed, g.companies, g.people, submissions, groups)


def _group(g: _Gen, kind: str, gid: str, size: int) -> list[Person]:
    rng = g.rng
    if kind == "same_name_other_company":
        # two companies, one name; a third of the time both under one multi-part suffix
        multi = [c for c in g.companies if c.domain.endswith(MULTI_PART_SUFFIXES)]
        if multi and rng.random() < 0.33:
            first_company = rng.choice(multi)
            suffix = next(s for s in MULTI_PART_SUFFIXES if first_company.domain.endswith(s))
            others = [c for c in multi if c.domain.endswith(suffix) and c is not first_company]
        else:
            first_company = rng.choice(g.companies)
            others = [c for c in g.companies if c is not first_company]
        root = first_company.name.split()[0]
        others = [c for c in others if c.name.split()[0] != root] or [
            c for c in g.companies if c is not first_company
        ]
        second_company = rng.choice(others)
        culture = rng.choice(CULTURES)
        for _ in range(1000):
            first = rng.choice(culture.male + culture.female)
            last = rng.choice(culture.last)
            if (
                (first, last) not in g.names
                and last not in g.surnames_at.get(first_company.index, set())
                and last not in g.surnames_at.get(second_company.index, set())
            ):
                break
        return [
            g.person(c, culture=culture, first=first, last=last, group=gid)
            for c in (first_company, second_company)
        ]
    # one group of a kind per company: two switchboard groups at one company would share it
    taken = g.group_companies.setdefault(kind, set())
    company = rng.choice([c for c in g.companies if c.index not in taken] or g.companies)
    taken.add(company.index)
    if kind == "same_surname_colleagues":
        culture = next(
            (c for c in CULTURES if company.country in c.countries and rng.random() < 0.8),
            rng.choice(CULTURES),
        )
        taken = g.surnames_at.get(company.index, set())
        last = rng.choice([s for s in culture.last if s not in taken] or list(culture.last))
        firsts: list[str] = []
        if rng.random() < 0.3:
            firsts = list(rng.choice(SIMILAR_FIRST_NAMES))
        while len(firsts) < size:
            name = rng.choice(culture.male + culture.female)
            if name not in firsts:
                firsts.append(name)
        people = []
        for first in firsts[:size]:
            people.append(g.person(company, culture=culture, first=first, last=last, group=gid))
        return people
    # shared_number, role_address: colleagues with different names
    style = "work" if kind == "role_address" else None
    return [g.person(company, group=gid, style=style) for _ in range(size)]


def _group_form(g: _Gen, person: Person, kind: str, form: dict[str, Any]) -> dict[str, Any]:
    company = g.companies[person.company]
    form = dict(form)
    if kind == "shared_number":
        # the switchboard; their own work address, or none
        form.pop("phone", None)
        if g.rng.random() < 0.6:
            form["email"] = person.work_email
        else:
            form.pop("email", None)
        g.set_phone(form, company.switchboard, company.country)
    elif kind == "role_address":
        mailbox = ROLE_MAILBOXES[hash_index(company.index, len(ROLE_MAILBOXES))]
        form["email"] = f"{mailbox}@{company.domain}"
    return form


def hash_index(n: int, size: int) -> int:
    return (n * 2654435761) % (2**32) % size


def _identities(form: dict[str, Any]) -> set[str]:
    """The contact a form carries, comparable across formats: canonical email, digits."""
    out = set()
    if form.get("email"):
        out.add("email:" + canonical_email(form["email"]))
    if form.get("phone"):
        out.add("phone:" + _e164(form["phone"], form.get("country")))
    return out


def _e164(text: str, country: str | None) -> str:
    number = phonenumbers.parse(text, country)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _fresh_contacts(g: _Gen, person: Person, used: set[str]) -> list[tuple[str, str, str]]:
    """(label, field, value) contacts the person has not used yet."""
    out = []
    options = [
        ("work_alias", "email", person.alias_email),
        ("work_email", "email", person.work_email),
        ("personal_email", "email", person.personal_email),
        ("new_phone", "phone", person.mobile),
    ]
    for label, kind, value in options:
        key = f"{kind}:{canonical_email(value) if kind == 'email' else value}"
        if key not in used:
            out.append((label, kind, value))
    return out


def _fits(g: _Gen, person: Person, kind: str, first: dict[str, Any], used: set[str]) -> bool:
    company = g.companies[person.company]
    group_kind = person.group.split(":")[0] if person.group else None
    if kind in FRESH_CONTACT_KINDS:
        fresh = _fresh_contacts(g, person, used)
        if not fresh:
            return False
    if kind == "email_case_dots_plus":
        return bool(first.get("email"))
    if kind == "phone_format":
        return bool(first.get("phone")) and group_kind != "shared_number"
    if kind == "phone_only":
        return group_kind != "shared_number" and (
            bool(first.get("phone")) or f"phone:{person.mobile}" not in used
        )
    if kind == "name_typo":
        return len(person.first) >= 4 or len(person.last) >= 4
    if kind == "nickname":
        return person.first in NICKNAMES
    if kind == "diacritics":
        return bool(transliterations(person.first) or transliterations(person.last))
    if kind == "legal_suffix":
        return company.legal_form is not None
    if kind == "subdomain":
        return company_domain(first.get("email"), first.get("website")) == company.domain
    return True


def _fresh_form(
    g: _Gen, person: Person, first: dict[str, Any], used: set[str], prefer: tuple[str, ...] = ()
) -> tuple[dict[str, Any], str]:
    """The first form with a contact never used before (and nothing else to match on)."""
    fresh = _fresh_contacts(g, person, used)
    preferred = [c for c in fresh if c[0] in prefer]
    label, kind, value = g.rng.choice(preferred or fresh)
    form = {k: v for k, v in first.items() if k not in ("email", "phone", "website")}
    if kind == "email":
        form["email"] = value
    else:
        g.set_phone(form, value, person.country)
    if label in ("personal_email", "new_phone") and g.rng.random() < 0.2:
        form["website"] = g.website(g.companies[person.company].domain)
        label += "+website"
    return form, label


def _typo(rng: random.Random, name: str) -> str:
    letters = [i for i, ch in enumerate(name) if ch.isalpha()]
    for _ in range(100):
        i = rng.choice(letters[1:] or letters)
        op = rng.choice(("substitute", "drop", "double", "transpose"))
        if op == "substitute":
            ch = rng.choice("aeiourstnlm")
            out = name[:i] + (ch.upper() if name[i].isupper() else ch) + name[i + 1 :]
        elif op == "drop":
            out = name[:i] + name[i + 1 :]
        elif op == "double":
            out = name[:i] + name[i] + name[i:]
        else:
            if i + 1 >= len(name) or not name[i + 1].isalpha():
                continue
            out = name[:i] + name[i + 1] + name[i] + name[i + 2 :]
        if out != name and len(out) >= 2:
            return out
    return name + "e"


def _company_written(rng: random.Random, company: Company) -> tuple[str, str]:
    """The company written another way (its legal form kept as is)."""
    written = company.written
    options: list[tuple[str, str]] = [
        ("upper case", written.upper()),
        ("lower case", written.lower()),
    ]
    if company.legal_form and not company.legal_form.startswith(","):
        options.append(("comma before the legal form", f"{company.name}, {company.legal_form}"))
        if "." in company.legal_form:
            options.append(
                (
                    "legal form without dots",
                    with_legal_form(company.name, company.legal_form.replace(".", "")),
                )
            )
    if " & " in company.name:
        options.append(("& as and", written.replace(" & ", " and ")))
    options.append(("The in front", f"The {written}"))
    words = company.name.split()
    if len(words) > 1 and "&" not in words:
        options.append(("sector word dropped", with_legal_form(words[0], company.legal_form)))
        options.append(("words run together", with_legal_form("".join(words), company.legal_form)))
    detail, text = rng.choice(options)
    return text, detail


def _variant(
    g: _Gen, person: Person, kind: str, first: dict[str, Any], used: set[str]
) -> tuple[dict[str, Any], str, str]:
    """A repeat of ``person``'s first form with one change labelled ``kind``; also which
    sub-variant it is and what contact it carries."""
    rng = g.rng
    company = g.companies[person.company]
    if kind == "exact_repeat":
        form = dict(first)
        form["form_id"] = rng.choice(FORMS)
        return form, "same form", "same"
    if kind == "email_case_dots_plus":
        form = dict(first)
        email = form["email"].lower()
        local, _, domain = email.partition("@")
        base = local.replace(".", "")
        if domain in ("gmail.com", "googlemail.com"):
            choice = rng.choice(("dots", "plus", "googlemail", "upper"))
            if choice == "dots":
                cut = rng.randrange(1, len(base))
                form["email"] = f"{base[:cut]}.{base[cut:]}@{domain}"
                detail = "gmail dots moved"
            elif choice == "plus":
                form["email"] = (
                    f"{local}+{rng.choice(('webinar', 'news', 'leads', '2026'))}@{domain}"
                )
                detail = "gmail plus tag"
            elif choice == "googlemail":
                form["email"] = f"{base}@googlemail.com"
                detail = "googlemail.com, no dots"
            else:
                form["email"] = email.upper()
                detail = "upper case"
        elif (
            (domain in PLUS_TAG_DOMAINS or company_domain(email, None) is not None)
            and not person.group
            and rng.random() < 0.2
        ):  # plus tags where the mailbox takes them (a company's Google Workspace)
            form["email"] = f"{local}+{rng.choice(('events', 'crm', 'test'))}@{domain}"
            detail = (
                "plus tag at a free-mail provider"
                if company_domain(form["email"], None) is None
                else "plus tag at a company domain"
            )
        else:
            form["email"] = rng.choice((email.upper(), f"{local.title()}@{domain.upper()}"))
            detail = "upper case"
        return form, detail, "same email, written differently"
    if kind == "phone_format":
        form = {k: v for k, v in first.items() if k not in ("phone", "email")}
        e164 = _e164(first["phone"], first.get("country"))
        for _ in range(20):
            text, needs = g.phone_text(e164, person.country)
            if text != first["phone"]:
                break
        form["phone"] = text
        if needs:
            form["country"] = person.country
        contact = "same phone, no email"
        if rng.random() < 0.5:
            fresh = [c for c in _fresh_contacts(g, person, used) if c[1] == "email"]
            if fresh:
                label, _, value = rng.choice(fresh)
                form["email"] = value
                contact = f"same phone, {label}"
        return form, "another format", contact
    if kind == "phone_only":
        form = {k: v for k, v in first.items() if k not in ("phone", "email", "website")}
        if first.get("phone") and (rng.random() < 0.7 or f"phone:{person.mobile}" in used):
            form["phone"] = first["phone"]
            if first.get("country"):
                form["country"] = first["country"]
            return form, "known phone", "same phone, no email"
        g.set_phone(form, person.mobile, person.country)
        return form, "new phone", "new_phone"

    # name and company kinds: a contact never used, so only name and company can match
    prefer: tuple[str, ...] = ()
    if kind in ("company_written_differently", "legal_suffix") and rng.random() < 0.8:
        prefer = ("personal_email", "new_phone")  # no company domain: the name decides
    if kind == "nickname":
        prefer = ("work_alias", "personal_email")
    sub = f"{company.subdomain}.{company.domain}"
    address = None
    if kind == "subdomain":
        # an address at the subdomain (a new identity), or its website beside a new contact
        addresses = [
            f"{e.split('@')[0]}@{sub}"
            for e in (person.work_email, person.alias_email)
            if f"email:{canonical_email(e.split('@')[0] + '@' + sub)}" not in used
        ]
        if addresses and (not _fresh_contacts(g, person, used) or rng.random() < 0.5):
            address = addresses[0]
    if address is not None:
        form = {k: v for k, v in first.items() if k not in ("email", "phone", "website")}
        form["email"] = address
        return form, "address at a subdomain", "subdomain address"
    form, contact = _fresh_form(g, person, first, used, prefer)
    if kind == "name_typo":
        part = "first_name" if len(person.last) < 4 or rng.random() < 0.5 else "last_name"
        form[part] = _typo(rng, form[part])
        return form, f"{part.split('_')[0]} name", contact
    if kind == "swapped_name":
        form["first_name"], form["last_name"] = person.last, person.first
        return form, "first and last swapped", contact
    if kind == "diacritics":
        parts = [p for p in ("first_name", "last_name") if transliterations(form[p])]
        part = rng.choice(parts)
        options = transliterations(form[part])
        variant = rng.choice(options)
        how = "ascii" if variant == ascii_fold(form[part]) else "german (ae, oe, ue, ss)"
        if variant == ascii_fold(form[part]) and variant == german_fold(form[part]):
            how = "ascii"
        form[part] = variant
        return form, f"{part.split('_')[0]} name, {how}", contact
    if kind == "nickname":
        form["first_name"] = rng.choice(NICKNAMES[person.first])
        return form, "nickname", contact
    if kind == "company_written_differently":
        text, detail = _company_written(rng, company)
        form["company"] = text
        return form, detail, contact
    if kind == "legal_suffix":
        assert company.legal_form is not None
        options_ = [("legal form dropped", company.name)]
        for v in company.legal_variants:
            options_.append(("legal form written another way", with_legal_form(company.name, v)))
        detail, text = rng.choice(options_)
        form["company"] = text
        return form, detail, contact
    if kind == "subdomain":
        form["website"] = rng.choice((f"https://{sub}/", sub, f"http://{sub}/products"))
        return form, "website at a subdomain", contact
    raise ValueError(f"unknown kind {kind}")
