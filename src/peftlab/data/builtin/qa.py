"""qa: passages about fictional people, events, places and organisations, with extractive answers.

A passage type is a list of sentences, each with the questions it can answer. A passage keeps the
first sentence plus a random, in-order subset of the rest; the question is drawn from the kept
sentences, so its answer is a short span copied verbatim from the passage.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

from . import Facts, Row
from .english import (
    _MONTHS, _RIVERS, _SAINTS, _SURNAMES, _TOWNS, _a, _cap, _count, _date, _money, _people, _pronouns,
    _towns,
)


# A passage sentence and the questions it answers: (question template, key of the answer fact).
_QASentence = tuple[str, tuple[tuple[str, str], ...]]


@dataclass(frozen=True)
class _Passage:
    facts: Callable[[random.Random], Facts]
    sentences: tuple[_QASentence, ...]  # the first one is always kept


def qa_row(rng: random.Random) -> Row:
    passage = rng.choice(_PASSAGES)
    facts = passage.facts(rng)
    others = range(1, len(passage.sentences))
    kept = [0] + sorted(rng.sample(others, rng.randint(2, min(5, len(others)))))
    sentences = [passage.sentences[i] for i in kept]
    context = " ".join(_cap(text.format(**facts)) for text, _ in sentences)
    question, key = rng.choice([q for _, questions in sentences for q in questions])
    return {"context": context, "question": question.format(**facts), "answer": facts[key]}


# --- a person --------------------------------------------------------------------------------

_PERSON_SENTENCES: tuple[_QASentence, ...] = (
    ("{name} is {a_job} from {hometown}.",
     (("Where is {name} from?", "hometown"), ("What does {name} do for a living?", "job"))),
    ("{Pron} studied {subject} at {university} and graduated in {grad}.",
     (("What did {name} study?", "subject"), ("When did {name} graduate?", "grad"),
      ("Where did {name} study {subject}?", "university"))),
    ("In {founded}, {pron} founded {org}, {a_org_kind} based in {city}.",
     (("What did {name} found in {founded}?", "org"), ("When did {name} found {org}?", "founded"),
      ("Where is {org} based?", "city"), ("Who founded {org}?", "name"))),
    ("{org} now employs {staff} people.", (("How many people does {org} employ?", "staff"),)),
    ("{Poss} first book, {title}, was published in {book_year}.",
     (("What is the title of {name}'s first book?", "title"), ("When was {title} published?", "book_year"))),
    ("In {award_year}, {pron} received {award} for {poss} work.",
     (("Which prize did {name} receive in {award_year}?", "award"), ("Who received {award} in {award_year}?", "name"))),
)
# (job, subject, kind of organisation, organisation name)
_CAREERS = (
    ("architect", "architecture", "design studio", "{last} Architects"),
    ("chemist", "chemistry", "research laboratory", "{last} Labs"),
    ("chef", "hotel management", "restaurant", "{last}'s Kitchen"),
    ("engineer", "mechanical engineering", "engineering firm", "{last} Engineering"),
    ("photographer", "fine art", "photo agency", "{last} Images"),
    ("marine biologist", "marine biology", "research institute", "the {town} Ocean Institute"),
    ("economist", "economics", "consulting firm", "{last} and Partners"),
    ("software developer", "computer science", "software company", "{last} Digital"),
    ("furniture designer", "industrial design", "furniture workshop", "{last} Woodworks"),
)
_TITLE_WORDS = (
    ("Silent", "Last", "Hidden", "Open", "Long", "Quiet", "Northern", "Glass", "Paper", "Winter"),
    ("Harbour", "Garden", "Bridge", "Road", "Window", "Table", "Orchard", "Lighthouse", "Map", "City"),
)


def _person_facts(rng: random.Random) -> Facts:
    person, other = _people(rng, 2)
    job, subject, org_kind, org = rng.choice(_CAREERS)
    hometown, uni_town, city = _towns(rng, 3)
    grad = rng.randint(1978, 2003)
    founded = grad + rng.randint(2, 10)
    facts = {
        "name": person.full, "job": job, "a_job": f"{_a(job)} {job}", "hometown": hometown,
        "subject": subject, "university": f"the University of {uni_town}", "grad": str(grad),
        "founded": str(founded), "org": org.format(last=person.last, town=city),
        "a_org_kind": f"{_a(org_kind)} {org_kind}", "city": city, "staff": _count(rng, 6, 400),
        "title": f"The {rng.choice(_TITLE_WORDS[0])} {rng.choice(_TITLE_WORDS[1])}",
        "book_year": str(founded + rng.randint(-3, 8)), "award_year": str(founded + rng.randint(3, 10)),
        "award": rng.choice((f"the {other.last} Prize", f"the {city} Medal")),
    }
    return facts | _pronouns(person)


# --- an event --------------------------------------------------------------------------------

_EVENT_SENTENCES: tuple[_QASentence, ...] = (
    ("The {event} was held at {venue} on {date}.",
     (("Where was the {event} held?", "venue"), ("On what date was the {event} held?", "date"))),
    ("It was organised by {organiser}.", (("Who organised the {event}?", "organiser"),)),
    ("A total of {k} {participants} took part.", (("How many {participants} took part in the {event}?", "k"),)),
    ("The winner was {winner}, a {age}-year-old {occupation} from {winner_town}.",
     (("Who won the {event}?", "winner"), ("How old is {winner}?", "age"),
      ("Where is {winner} from?", "winner_town"), ("What is {winner}'s job?", "occupation"))),
    ("The first prize was worth {prize}.", (("How much was the first prize in the {event} worth?", "prize"),)),
    ("{runner} finished in second place.",
     (("Who finished second in the {event}?", "runner"), ("Who came second in the {event}?", "runner"))),
)
# (event, participants, organising club)
_EVENT_KINDS = (
    ("Chess Open", "players", "Chess Club"), ("Marathon", "runners", "Running Club"),
    ("Baking Championship", "bakers", "Bakers' Guild"), ("Photography Contest", "photographers", "Camera Club"),
    ("Cycling Race", "riders", "Cycling Club"), ("Poetry Competition", "poets", "Literary Society"),
)
_OCCUPATIONS = ("teacher", "nurse", "student", "accountant", "electrician", "librarian", "farmer", "bus driver")


def _event_facts(rng: random.Random) -> Facts:
    kind, participants, club = rng.choice(_EVENT_KINDS)
    town, winner_town = _towns(rng, 2)
    winner, runner = _people(rng, 2)
    venue = rng.choice((f"the {rng.choice(_SURNAMES)} Centre", f"{town} Town Hall", "the Old Market Hall"))
    return {
        "event": f"{rng.randint(2005, 2023)} {town} {kind}", "venue": venue, "date": _date(rng),
        "organiser": f"the {town} {club}", "k": _count(rng, 20, 900), "participants": participants,
        "winner": winner.full, "age": str(rng.randint(19, 67)), "occupation": rng.choice(_OCCUPATIONS),
        "winner_town": winner_town, "prize": f"${_count(rng, 500, 10000, 250)}", "runner": runner.full,
    }


# --- a town ----------------------------------------------------------------------------------

_TOWN_SENTENCES: tuple[_QASentence, ...] = (
    ("{town} is a small town on the {river} in the {region} region.",
     (("On which river is {town}?", "river"), ("In which region is {town}?", "region"))),
    ("It has a population of about {population}.", (("About how many people live in {town}?", "population"),)),
    ("The town is best known for {known_for}.", (("What is {town} best known for?", "known_for"),)),
    ("Its oldest building, {building}, dates from {built}.",
     (("What is the oldest building in {town}?", "building"), ("When was {building} built?", "built"))),
    ("Every {month}, the town holds {festival}, which attracts visitors from across the country.",
     (("In which month does {town} hold {festival}?", "month"), ("Which festival does {town} hold every {month}?", "festival"))),
    ("{town} lies {distance} {direction} of {city}.", (("How far is {town} from {city}?", "distance"),)),
    ("The current mayor is {mayor}.", (("Who is the mayor of {town}?", "mayor"),)),
)
_REGIONS = ("Valemark", "Oriel", "Kestova", "Marrin", "Talbryn", "Esterra", "Hollan", "Brevik")
_KNOWN_FOR = (
    "its goat cheese", "handmade pottery", "its apple orchards", "glassmaking", "wool blankets",
    "its spring water", "wooden toys", "its horse fair",
)
_FESTIVAL_WORDS = ("Lantern", "Harvest", "River", "Blossom", "Cheese", "Music", "Kite")


def _town_facts(rng: random.Random) -> Facts:
    town, city = _towns(rng, 2)
    building = rng.choice((f"St {rng.choice(_SAINTS)}'s Church", "the Old Mill", f"{town} Castle", "the Bell Tower"))
    return {
        "town": town, "city": city, "river": f"River {rng.choice(_RIVERS)}", "region": rng.choice(_REGIONS),
        "population": _count(rng, 2000, 40000, 100), "known_for": rng.choice(_KNOWN_FOR),
        "building": building, "built": str(rng.randint(1150, 1890)), "month": rng.choice(_MONTHS),
        "festival": f"the {rng.choice(_FESTIVAL_WORDS)} Festival", "distance": f"{rng.randint(8, 120)} kilometres",
        "direction": rng.choice(("north", "south", "east", "west")), "mayor": _people(rng, 1)[0].full,
    }


# --- a company -------------------------------------------------------------------------------

_COMPANY_SENTENCES: tuple[_QASentence, ...] = (
    ("{org} is {a_kind} founded in {year} by {founder}.",
     (("Who founded {org}?", "founder"), ("When was {org} founded?", "year"),
      ("What kind of company is {org}?", "kind"))),
    ("Its headquarters are in {hq}.", (("Where does {org} have its headquarters?", "hq"),)),
    ("The company has about {employees} employees.", (("How many employees does {org} have?", "employees"),)),
    ("Its best-known product is {product}.", (("What is the best-known product of {org}?", "product"),)),
    ("In {branch_year}, it opened a second office in {branch}.",
     (("Where did {org} open a second office?", "branch"), ("When did {org} open its second office?", "branch_year"))),
    ("Since {ceo_year}, the company has been led by {ceo}.", (("Who has led {org} since {ceo_year}?", "ceo"),)),
)
# (kind, word in the company name, best-known product)
_COMPANY_KINDS = (
    ("bicycle maker", "Cycles", "the {brand} folding bike"), ("publishing house", "Press", "the {brand} travel guides"),
    ("ferry operator", "Ferries", "the {brand} night ferry"), ("bakery chain", "Bakeries", "the {brand} sourdough loaf"),
    ("toy maker", "Toys", "the {brand} train set"), ("software company", "Software", "the {brand} accounting app"),
    ("coffee roaster", "Coffee", "the {brand} espresso blend"), ("furniture maker", "Furniture", "the {brand} reading chair"),
)
_BRANDS = ("Swift", "Lark", "Comet", "Harbour", "Aurora", "Beacon", "Juniper", "Falcon", "Meadow", "Summit")


def _company_qa_facts(rng: random.Random) -> Facts:
    kind, word, product = rng.choice(_COMPANY_KINDS)
    founder, partner, ceo = _people(rng, 3)
    hq, branch = _towns(rng, 2)
    year = rng.randint(1890, 2005)
    org = rng.choice((f"{founder.last} and {partner.last}", f"{rng.choice(_BRANDS)} {word}"))
    return {
        "org": org, "kind": kind, "a_kind": f"{_a(kind)} {kind}", "year": str(year), "founder": founder.full,
        "hq": hq, "employees": _count(rng, 30, 6000, 10), "product": product.format(brand=rng.choice(_BRANDS)),
        "branch_year": str(year + rng.randint(5, 15)), "branch": branch,
        "ceo_year": str(rng.randint(max(year + 10, 2000), 2023)), "ceo": ceo.full,
    }


# --- an expedition ---------------------------------------------------------------------------

_EXPEDITION_SENTENCES: tuple[_QASentence, ...] = (
    ("In {when}, a team of {k} scientists travelled to {place} to study {topic}.",
     (("How many scientists travelled to {place} in {when}?", "k"), ("Where did the team travel in {when}?", "place"),
      ("What did the team go to {place} to study?", "topic"), ("When did the team travel to {place}?", "when"))),
    ("The expedition was led by {leader} of {institute}.",
     (("Who led the expedition to {place}?", "leader"), ("Which institute does {leader} work for?", "institute"))),
    ("The scientists sailed there on a research ship called the {ship}.",
     (("What was the name of the ship that took the team to {place}?", "ship"),)),
    ("The expedition lasted {days} days.", (("How many days did the expedition to {place} last?", "days"),)),
    ("During the trip, they {did} {count} {things}.", (("How many {things} did the team {do} during the expedition to {place}?", "count"),)),
    ("The team published its results in {published}.", (("When did the team that studied {topic} publish its results?", "published"),)),
)
# (topic, past verb, base verb, what was counted)
_EXPEDITION_TOPICS = (
    ("nesting seabirds", "counted", "count", "nests"), ("coral reefs", "photographed", "photograph", "reef sites"),
    ("volcanic rocks", "collected", "collect", "rock samples"), ("sea turtles", "tagged", "tag", "turtles"),
    ("kelp forests", "measured", "measure", "kelp plants"), ("whale migration", "recorded", "record", "whale sightings"),
)
_PLACE_NAMES = ("Marrow", "Kestrel", "Solan", "Brindle", "Ostra", "Velling", "Corran", "Tamsin", "Greyholm")
_SHIP_NAMES = ("Sea Lark", "Northern Star", "Petrel", "Blue Heron", "Albatross", "Morning Tide", "Curlew")


def _expedition_facts(rng: random.Random) -> Facts:
    topic, did, do, things = rng.choice(_EXPEDITION_TOPICS)
    name = rng.choice(_PLACE_NAMES)
    place = rng.choice((f"the {name} Islands", f"{name} Bay", f"the {name} Coast", f"{name} Island"))
    year = rng.randint(1995, 2022)
    leader = _people(rng, 1)[0]
    institute = rng.choice((f"the University of {rng.choice(_TOWNS)}", f"the {rng.choice(_TOWNS)} Marine Institute"))
    return {
        "when": f"{rng.choice(_MONTHS)} {year}", "k": str(rng.randint(4, 30)), "place": place, "topic": topic,
        "leader": leader.full, "institute": institute, "ship": rng.choice(_SHIP_NAMES),
        "days": str(rng.randint(10, 90)), "did": did, "do": do, "count": _count(rng, 40, 3000, 10),
        "things": things, "published": str(year + rng.randint(1, 3)),
    }


# --- a bridge --------------------------------------------------------------------------------

_BRIDGE_SENTENCES: tuple[_QASentence, ...] = (
    ("The {bridge} crosses the {river} in {town} and is {length} metres long.",
     (("How many metres long is the {bridge}?", "length"), ("Which river does the {bridge} cross?", "river"),
      ("In which town is the {bridge}?", "town"))),
    ("It was designed by the engineer {engineer} and opened in {year}.",
     (("Who designed the {bridge}?", "engineer"), ("When did the {bridge} open?", "year"))),
    ("Construction took {years} years and cost {cost}.",
     (("How many years did construction of the {bridge} take?", "years"), ("How much did the {bridge} cost?", "cost"))),
    ("About {vehicles} vehicles cross it every day.", (("How many vehicles cross the {bridge} every day?", "vehicles"),)),
    ("In {painted_year}, the bridge was repainted {colour}.",
     (("What colour was the {bridge} painted in {painted_year}?", "colour"),)),
    ("A footpath on its eastern side is used by around {walkers} people a day.",
     (("How many people use the footpath on the {bridge} each day?", "walkers"),)),
)
_COLOURS = ("dark green", "pale blue", "red", "grey", "white", "black")


def _bridge_facts(rng: random.Random) -> Facts:
    year = rng.randint(1880, 2015)
    return {
        "bridge": f"{rng.choice(_SURNAMES)} Bridge", "length": _count(rng, 60, 1800, 10),
        "river": f"River {rng.choice(_RIVERS)}", "town": rng.choice(_TOWNS), "engineer": _people(rng, 1)[0].full,
        "year": str(year), "years": str(rng.randint(2, 9)), "cost": _money(rng, 2, 90),
        "vehicles": _count(rng, 2000, 60000, 100), "painted_year": str(rng.randint(max(year + 5, 1990), 2023)),
        "colour": rng.choice(_COLOURS), "walkers": _count(rng, 200, 9000, 50),
    }


_PASSAGES = (
    _Passage(_person_facts, _PERSON_SENTENCES), _Passage(_event_facts, _EVENT_SENTENCES),
    _Passage(_town_facts, _TOWN_SENTENCES), _Passage(_company_qa_facts, _COMPANY_SENTENCES),
    _Passage(_expedition_facts, _EXPEDITION_SENTENCES), _Passage(_bridge_facts, _BRIDGE_SENTENCES),
)
