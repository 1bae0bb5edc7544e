"""Shared English vocabulary of the summarize and qa generators: names, towns, dates, numbers.

Names keep their leading underscore: they are internals of the built-in generators, shared between
them, not an API. Changing a word list changes the built-in data and so every figure in the README
(tests/test_builtin_pins.py says so).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from . import Facts


_FEMALE_NAMES = (
    "Anna", "Maria", "Sofia", "Elena", "Clara", "Nadia", "Laura", "Helen", "Grace", "Amira",
    "Priya", "Mei", "Ingrid", "Lucia", "Hannah", "Chloe", "Fatima", "Yuki", "Olivia", "Rosa",
    "Emma", "Leila", "Irene", "Martina", "Zara", "Julia",
)
_MALE_NAMES = (
    "James", "Daniel", "Thomas", "Lucas", "Omar", "David", "Peter", "Samuel", "Marco", "Victor",
    "Hugo", "Felix", "Arjun", "Kenji", "Mateo", "Oscar", "Leon", "Adam", "Ivan", "Stefan",
    "Nikolai", "Tomas", "Ryan", "Elias", "Karim", "Jonas",
)
_SURNAMES = (
    "Carter", "Novak", "Okafor", "Lindqvist", "Moreau", "Reyes", "Tanaka", "Brennan", "Kowalski",
    "Haddad", "Fischer", "Rossi", "Petrov", "Nakamura", "Sullivan", "Dubois", "Varga", "Morales",
    "Hughes", "Bianchi", "Eriksen", "Mensah", "Kaur", "Whitfield", "Albright", "Castillo",
    "Ferreira", "Holm", "Janssen", "Kerr", "Lindgren", "Marsh", "Osei", "Park", "Quinn", "Sato",
    "Thorne", "Vance", "Weller", "Yilmaz", "Ashby", "Delgado",
)
_TOWN_HEADS = (
    "Ash", "Oak", "Elm", "Stone", "Brook", "Fair", "Red", "Green", "North", "West", "Mill",
    "Hart", "Kings", "Wil", "Bran", "Dun", "Glen", "Lark", "Thorn", "Bel",
)
_TOWN_TAILS = (
    "ford", "field", "haven", "ton", "bury", "wick", "moor", "dale", "mere", "ridge", "wood",
    "stead", "port", "gate", "combe",
)
_TOWNS = tuple(head + tail for head in _TOWN_HEADS for tail in _TOWN_TAILS)
_RIVERS = (
    "Alder", "Wend", "Maren", "Lisk", "Teale", "Orrin", "Sorrel", "Hollin", "Dray", "Fenna",
    "Calla", "Rune",
)
_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth")


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _a(word: str) -> str:
    """The English indefinite article for a following word."""
    return "an" if word[:1].lower() in "aeiou" else "a"


def _num(value: int) -> str:
    return f"{value:,}"


def _count(rng: random.Random, lo: int, hi: int, step: int = 1) -> str:
    return _num(rng.randrange(lo, hi + 1, step))


def _money(rng: random.Random, lo: int, hi: int) -> str:
    return f"${rng.randint(lo, hi)}.{rng.randint(1, 9)} million"


def _date(rng: random.Random) -> str:
    return f"{rng.choice(_MONTHS)} {rng.randint(1, 28)}"


def _towns(rng: random.Random, k: int) -> list[str]:
    return rng.sample(_TOWNS, k)


@dataclass(frozen=True)
class _Person:
    first: str
    last: str
    female: bool

    @property
    def full(self) -> str:
        return f"{self.first} {self.last}"


def _people(rng: random.Random, k: int) -> list[_Person]:
    """k people with distinct surnames (so no two share a full name)."""
    people = []
    for last in rng.sample(_SURNAMES, k):
        female = rng.random() < 0.5
        people.append(_Person(rng.choice(_FEMALE_NAMES if female else _MALE_NAMES), last, female))
    return people


def _pronouns(person: _Person) -> Facts:
    if person.female:
        return {"Pron": "She", "pron": "she", "Poss": "Her", "poss": "her"}
    return {"Pron": "He", "pron": "he", "Poss": "His", "poss": "his"}


_SAINTS = ("Anne", "Luke", "Mary", "Thomas", "Catherine", "Peter", "Helena", "Mark")
