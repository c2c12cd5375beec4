"""The ``mixture`` model's word-level vocabulary: the word lists of its six tasks and filler text.

:data:`VOCAB` (readable strings, ``"<bos>"`` first) and :func:`encode` / :func:`decode`; the
tasks themselves are in :mod:`workbook.tasks.mixture`.
"""

from __future__ import annotations

from workbook.core.errors import TaskError

__all__ = [
    "ADJS",
    "CAPITALS",
    "CATEGORIES",
    "CATEGORY_OF",
    "CENTURIES",
    "COUNTRIES",
    "EVENTS",
    "FEMALE",
    "FEMALE_JOBS",
    "FUNCTION",
    "HYPONYMS",
    "ID",
    "MALE",
    "MALE_JOBS",
    "NAMES",
    "NOUNS",
    "OBJECTS",
    "PLACES",
    "PL_VERBS",
    "SG_VERBS",
    "VOCAB",
    "YEARS",
    "decode",
    "encode",
]

# ----------------------------------------------------------------------------- word lists
MALE = [
    "John",
    "Tom",
    "Paul",
    "Mark",
    "Jack",
    "Sam",
    "David",
    "James",
    "Peter",
    "Alex",
    "Ben",
    "Dan",
    "Eric",
    "Frank",
    "George",
    "Harry",
    "Ivan",
    "Kevin",
    "Leo",
    "Mike",
]
FEMALE = [
    "Mary",
    "Anna",
    "Kate",
    "Lucy",
    "Emma",
    "Sarah",
    "Laura",
    "Alice",
    "Julia",
    "Nina",
    "Olga",
    "Rita",
    "Tina",
    "Vera",
    "Zoe",
    "Amy",
    "Beth",
    "Clara",
    "Diana",
    "Eva",
]
NAMES = MALE + FEMALE
PLACES = ["store", "park", "school", "office", "bank", "lake", "market", "station"]
OBJECTS = ["drink", "book", "ball", "key", "letter", "gift", "coin", "map"]
MALE_JOBS = [
    "pilot",
    "soldier",
    "engineer",
    "mechanic",
    "plumber",
    "farmer",
    "banker",
    "surgeon",
    "captain",
    "sheriff",
    "butcher",
    "miner",
]
FEMALE_JOBS = [
    "nurse",
    "secretary",
    "dancer",
    "maid",
    "nanny",
    "librarian",
    "florist",
    "hairdresser",
    "receptionist",
    "midwife",
    "stylist",
    "babysitter",
]
CAPITALS = {
    "France": "Paris",
    "Spain": "Madrid",
    "Italy": "Rome",
    "Germany": "Berlin",
    "Japan": "Tokyo",
    "China": "Beijing",
    "Russia": "Moscow",
    "Egypt": "Cairo",
    "Kenya": "Nairobi",
    "Peru": "Lima",
    "Chile": "Santiago",
    "Cuba": "Havana",
    "Greece": "Athens",
    "Norway": "Oslo",
    "Sweden": "Stockholm",
    "Finland": "Helsinki",
    "Poland": "Warsaw",
    "Austria": "Vienna",
    "Hungary": "Budapest",
    "Portugal": "Lisbon",
    "Ireland": "Dublin",
    "Turkey": "Ankara",
    "Iran": "Tehran",
    "Iraq": "Baghdad",
    "India": "Delhi",
    "Thailand": "Bangkok",
    "Vietnam": "Hanoi",
    "Canada": "Ottawa",
    "Colombia": "Bogota",
    "Ghana": "Accra",
    "Morocco": "Rabat",
    "Denmark": "Copenhagen",
    "Belgium": "Brussels",
    "Romania": "Bucharest",
    "Bulgaria": "Sofia",
    "Serbia": "Belgrade",
    "Ukraine": "Kyiv",
    "Australia": "Canberra",
    "Indonesia": "Jakarta",
    "Korea": "Seoul",
}
COUNTRIES = list(CAPITALS)
CATEGORIES = {
    "bird": ["robin", "eagle", "sparrow", "owl", "crow", "swan"],
    "fish": ["salmon", "trout", "shark", "cod", "tuna", "carp"],
    "tree": ["oak", "pine", "maple", "birch", "elm", "willow"],
    "flower": ["rose", "tulip", "daisy", "lily", "orchid", "violet"],
    "fruit": ["apple", "banana", "cherry", "mango", "pear", "plum"],
    "tool": ["hammer", "wrench", "axe", "drill", "chisel", "shovel"],
    "vehicle": ["car", "truck", "bus", "bicycle", "tractor", "van"],
    "instrument": ["piano", "violin", "guitar", "drum", "flute", "trumpet"],
    "insect": ["ant", "bee", "beetle", "wasp", "moth", "fly"],
    "metal": ["iron", "copper", "silver", "gold", "tin", "zinc"],
}
HYPONYMS = [h for hs in CATEGORIES.values() for h in hs]
CATEGORY_OF = {h: c for c, hs in CATEGORIES.items() for h in hs}
NOUNS = {
    "author": "authors",
    "doctor": "doctors",
    "guard": "guards",
    "teacher": "teachers",
    "senator": "senators",
    "singer": "singers",
    "lawyer": "lawyers",
    "student": "students",
    "cook": "cooks",
    "driver": "drivers",
    "painter": "painters",
    "player": "players",
    "child": "children",
    "man": "men",
    "woman": "women",
    "person": "people",
    "table": "tables",
    "door": "doors",
    "window": "windows",
    "chair": "chairs",
}
SG_VERBS = ["is", "was", "has", "does"]
PL_VERBS = ["are", "were", "have", "do"]
EVENTS = ["war", "siege", "strike", "drought", "famine", "reign", "voyage", "trial", "feud", "riot"]
CENTURIES = [f"{c}" for c in range(11, 20)]
YEARS = [f"{y:02d}" for y in range(100)]
ADJS = ["old", "new", "big", "small", "happy", "tired", "late", "early"]
FUNCTION = [
    "<bos>",
    ".",
    ",",
    "the",
    "The",
    "a",
    "A",
    "to",
    "and",
    "that",
    "of",
    "in",
    "In",
    "at",
    "At",
    "When",
    "After",
    "Yesterday",
    "Later",
    "Then",
    "went",
    "gave",
    "then",
    "it",
    "talked",
    "found",
    "lasted",
    "from",
    "year",
    "ended",
    "king",
    "died",
    "said",
    "near",
    "with",
    "like",
    "likes",
    "big",
    "flew",
    "capital",
    "is",
    "unlike",
    "one",
    "lives",
    "now",
    "but",
    "saw",
    "kind",
    "Unlike",
    "we",
    "met",
    "closed",
    "who",
    "knew",
    "well",
    "he",
    "she",
    "his",
    "her",
    "city",
    "country",
    "wrote",
    "about",
    "was",
    "were",
    "told",
]

VOCAB: list[str] = list(
    dict.fromkeys(
        FUNCTION
        + NAMES
        + PLACES
        + OBJECTS
        + MALE_JOBS
        + FEMALE_JOBS
        + COUNTRIES
        + list(CAPITALS.values())
        + list(CATEGORIES)
        + HYPONYMS
        + list(NOUNS)
        + list(NOUNS.values())
        + SG_VERBS
        + PL_VERBS
        + EVENTS
        + ADJS
        + YEARS
    )
)
ID = {w: i for i, w in enumerate(VOCAB)}
for _group in (NAMES, PLACES, OBJECTS, MALE_JOBS + FEMALE_JOBS, COUNTRIES, HYPONYMS, list(CATEGORIES), EVENTS):
    assert len(set(_group)) == len(_group)


def encode(words: list[str]) -> list[int]:
    """Token ids of ``words`` (a clear error for a word outside :data:`VOCAB`)."""
    try:
        return [ID[w] for w in words]
    except KeyError as err:
        raise TaskError(f"word {err.args[0]!r} is not in the mixture vocabulary.") from None


def decode(ids) -> list[str]:
    return [VOCAB[int(i)] for i in ids]
