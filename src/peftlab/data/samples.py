"""Built-in sample data sets, generated deterministically by our own code.

Why synthetic
-------------
peftlab has to run its demo and its tests offline, on two CPU cores, with no download and no
licence question. So instead of shipping a corpus, each task has a small generator: every
example is assembled from the hand-written templates and word lists in this module. Nothing is
copied from an existing data set. The mappings are deliberately regular and noise-free, so a
small LM fine-tuned for a few minutes can learn them, and the three PEFT methods can be compared
on something they can actually improve.

How it is made
--------------
- ``summarize``: one "story" per kind of news (council, weather, football, basketball,
  investment, company results, science, health, festival, exhibition, bus fares, bus routes,
  tram, environment, education). Random facts (names, places, numbers, dates) fill a lead,
  sometimes preceded by a scene-setting opener, the sentences the summary relies on, and a few
  colour sentences (quotes, background). The summary is one sentence from a fixed per-story
  template that restates the key facts with the article's own words.
- ``qa``: a passage type (person, event, town, company, expedition, bridge) is a list of
  sentences, each with the questions it can answer. A passage keeps the first sentence plus a
  random, in-order subset of the rest; the question is drawn from the kept sentences, so its
  answer is a short span copied verbatim from the passage.
- ``translate``: Bulgarian sentences built compositionally from a lexicon (subjects, verbs with
  present and aorist conjugation, nouns with gender, plural, definite and count forms, agreeing
  adjectives, places, times, numbers) through a dozen templates (present and past statements,
  negations, yes/no and wh-questions, counting, possession, existence, predicates), with the
  English translation built in parallel from the same choices.

Reproducibility
---------------
Each split draws from its own ``random.Random`` stream, seeded from SHA-256 of
``task/split/seed`` (never the salted ``hash()``, never the global RNG), so the same arguments
give the same rows in any process. Rows are de-duplicated on their input text, and every input
text belongs to exactly one split, chosen by a stable hash of the text (train owns 60% of the
hash space, val and test 20% each), so the splits never share an input, whatever the seeds. Rows are produced in sequence: a smaller ``n`` is a prefix of
a larger one.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Callable

from peftlab.errors import UsageError

TASKS: tuple[str, ...] = ("summarize", "qa", "translate")
SPLITS: tuple[str, ...] = ("train", "val", "test")
BUILTIN_SIZES: dict[str, int] = {"train": 600, "val": 80, "test": 80}

# Share of the input space owned by each split (train is large, so it gets most: fewer rejects).
_SPLIT_SLOTS: tuple[str, ...] = ("train",) * 6 + ("val",) * 2 + ("test",) * 2
_TRIES_PER_ROW = 40  # candidates drawn per wanted row before giving up (2 to 5 are needed)

Row = dict[str, str]
Facts = dict[str, str]


def builtin_split(task: str, split: str, n: int | None = None, seed: int = 0) -> list[Row]:
    """Deterministic examples for task in {"summarize","qa","translate"}, split in {"train","val","test"}.

    n=None -> BUILTIN_SIZES[split]. Raises UsageError on an unknown task or split, or n <= 0.
    """
    size = _check_args(task, split, n)
    make_row, key = _GENERATORS[task]
    rng = random.Random(_stream_seed(task, split, seed))
    rows: list[Row] = []
    seen: set[str] = set()
    for _ in range(size * _TRIES_PER_ROW + 1000):
        row = make_row(rng)
        text = row[key]
        if text in seen or _split_of(text) != split:
            continue
        seen.add(text)
        rows.append(row)
        if len(rows) == size:
            return rows
    raise UsageError(
        f"could only make {len(rows)} distinct {task}/{split} rows, not {size}; ask for fewer rows (n)"
    )


def _check_args(task: str, split: str, n: int | None) -> int:
    if task not in TASKS:
        raise UsageError(f"unknown task {task!r}; use one of: {', '.join(TASKS)}")
    if split not in SPLITS:
        raise UsageError(f"unknown split {split!r}; use one of: {', '.join(SPLITS)}")
    if n is None:
        return BUILTIN_SIZES[split]
    if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
        raise UsageError(f"n must be a positive integer, got {n!r}; pass n >= 1 (or None for the default)")
    return n


def _stream_seed(task: str, split: str, seed: int) -> int:
    digest = hashlib.sha256(f"peftlab-samples/{task}/{split}/{seed}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _split_of(text: str) -> str:
    """The one split an input text may appear in, from a stable hash of it (not the salted hash())."""
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    slot = int.from_bytes(digest, "big") % len(_SPLIT_SLOTS)
    return _SPLIT_SLOTS[slot]


# --------------------------------------------------------------------------------------------
# Shared English vocabulary (summarize and qa)
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# summarize: short news articles with a one-sentence summary
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Story:
    """Templates for one kind of news story; all are filled from the same facts."""

    leads: tuple[str, ...]  # one is used; each states the key fact
    required: tuple[str, ...]  # always used: they carry the facts the summary needs
    optional: tuple[str, ...]  # colour (quotes, background): some are used
    summary: str  # one sentence restating the key facts in a fixed pattern
    openers: tuple[str, ...] = ()  # scene-setting first sentences, used now and then


_MIN_WORDS, _MAX_WORDS = 60, 140
_MIN_SENTENCES, _MAX_SENTENCES = 4, 7


def _write_article(rng: random.Random, story: _Story, facts: Facts) -> str:
    """Opener?, lead, the required sentences, then optional ones, within the length limits."""
    head = [rng.choice(story.leads)]
    if story.openers and rng.random() < 0.3:
        head.insert(0, rng.choice(story.openers))
    head = [_fill(t, facts) for t in head]
    body = [_fill(t, facts) for t in story.required]
    words = sum(len(s.split()) for s in head + body)
    count = sum(s.count(". ") + 1 for s in head + body)
    target = rng.randint(_MIN_SENTENCES, _MAX_SENTENCES)
    picked: list[int] = []
    for index in rng.sample(range(len(story.optional)), len(story.optional)):
        if (count >= target and words >= _MIN_WORDS) or count >= _MAX_SENTENCES:
            break
        size = len(_fill(story.optional[index], facts).split())
        if words + size > _MAX_WORDS:
            break
        picked.append(index)
        words, count = words + size, count + 1
    # Optional sentences keep their template order, which reads naturally (names before quotes).
    body += [_fill(story.optional[i], facts) for i in sorted(picked)]
    return " ".join(head + body)


def _fill(template: str, facts: Facts) -> str:
    return _cap(template.format(**facts))


def _summarize_row(rng: random.Random) -> Row:
    story, facts = rng.choice(_SUMMARY_MAKERS)(rng)
    return {"article": _write_article(rng, story, facts), "summary": _fill(story.summary, facts)}


# --- council ---------------------------------------------------------------------------------

_COUNCIL = _Story(
    openers=(
        "Residents of {town} filled the public gallery of the town hall on {weekday} evening.",
        "It was one of the longest meetings in the recent history of {town}.",
    ),
    leads=(
        "The {body} of {town} voted {yes} to {no} on {weekday} to approve a {amount} plan to {project}.",
        "Councillors in {town} have approved a {amount} plan to {project} after a vote of {yes} to {no} on {weekday}.",
        "After a debate lasting more than three hours, the {body} of {town} backed a {amount} plan "
        "to {project} on {weekday}.",
    ),
    required=("Work is expected to begin in {month} and should take about {duration} months.",),
    optional=(
        '"This is an investment in the future of {town}," said Mayor {mayor}.',
        "The money will come from {source}.",
        "{critic}, who voted against the plan, said the cost was too high for a town of its size.",
        "The idea was first proposed {ago} years ago but was delayed by a lack of funds.",
        "A survey by the council found that {pct} percent of residents supported the project.",
        "Several local business owners attended the meeting and welcomed the decision.",
    ),
    summary="The {body} of {town} approved a {amount} plan to {project}, with work due to begin in {month}.",
)
_COUNCIL_PROJECTS = (
    ("repair {k} old bridges", 3, 15, 1),
    ("plant {k} trees along its main streets", 500, 5000, 100),
    ("add {k} kilometres of cycle lanes", 5, 40, 1),
    ("renovate {k} primary schools", 2, 9, 1),
    ("build {k} affordable homes", 50, 600, 10),
    ("replace {k} street lights with LED lamps", 800, 6000, 100),
    ("build a new public library", 0, 0, 1),
    ("turn the old railway yard into a park", 0, 0, 1),
    ("open {k} new health centres", 2, 6, 1),
)
_COUNCIL_FUNDS = (
    "a regional development fund", "the council's reserve budget", "a national infrastructure grant",
    "a small rise in parking fees", "a long-term loan",
)


def _council(rng: random.Random) -> tuple[_Story, Facts]:
    seats = rng.choice((7, 9, 11, 13))
    yes = rng.randint(seats // 2 + 1, seats - 1)
    mayor, critic = _people(rng, 2)
    template, lo, hi, step = rng.choice(_COUNCIL_PROJECTS)
    facts = {
        "town": rng.choice(_TOWNS), "weekday": rng.choice(_WEEKDAYS), "month": rng.choice(_MONTHS),
        "body": rng.choice(("city council", "town council", "district council")),
        "yes": str(yes), "no": str(seats - yes), "amount": _money(rng, 1, 40),
        "project": template.format(k=_count(rng, lo, hi, step)),
        "duration": str(rng.randint(6, 30)), "mayor": mayor.full, "critic": critic.full,
        "source": rng.choice(_COUNCIL_FUNDS), "ago": str(rng.randint(2, 12)), "pct": str(rng.randint(55, 85)),
    }
    return _COUNCIL, facts


# --- weather ---------------------------------------------------------------------------------

_WEATHER_OPTIONAL = (
    '"We have not seen anything like this for years," said {witness}, who runs a {shop} in the town centre.',
    "Emergency services received more than {calls} calls during the day.",
    "Residents were advised to stay at home unless their journey was essential.",
    "Forecasters expect conditions to improve by the weekend.",
    "Repair crews worked through the night in the worst-affected streets.",
    "Several local events planned for the weekend were postponed.",
)
_WEATHER_OPENERS = (
    "It was a difficult {weekday} for the people of {town}.",
    "Forecasters had warned that the worst of the weather would arrive on {weekday}.",
)
_WEATHER_SUMMARY = "{event} brought {measure} to {town} on {weekday}, leaving {impact_short}."


def _weather_story(*leads: str) -> _Story:
    return _Story(leads=leads, required=("{impact}",), optional=_WEATHER_OPTIONAL,
                  summary=_WEATHER_SUMMARY, openers=_WEATHER_OPENERS)


# event -> (summary subject, measure template, lo, hi, story)
_WEATHER_EVENTS = (
    ("a snowstorm", "{k} centimetres of snow", 20, 70, _weather_story(
        "Up to {measure} fell on {town} on {weekday}, the heaviest snowfall there since {year}.",
        "{town} woke up under {measure} on {weekday} after a night of heavy snowfall.")),
    ("a downpour", "{k} millimetres of rain", 60, 180, _weather_story(
        "More than {measure} fell on {town} on {weekday}, flooding streets and cellars.",
        "Streets in {town} turned into rivers on {weekday} as {measure} fell in less than a day.")),
    ("a storm", "winds of up to {k} kilometres per hour", 90, 160, _weather_story(
        "A storm with {measure} swept through {town} on {weekday}, bringing down trees and power lines.",
        "Fallen trees blocked roads across {town} on {weekday} after a storm brought {measure}.")),
    ("a heatwave", "temperatures of up to {k} degrees Celsius", 36, 44, _weather_story(
        "{town} recorded {measure} on {weekday}, the hottest day there since {year}.",
        "A heatwave brought {measure} to {town} on {weekday}, and the hot weather is set to continue.")),
)
# (article sentence, summary phrase, lo, hi, step)
_WEATHER_IMPACTS = (
    ("By the evening, {k} homes were without power, the local energy company said.",
     "{k} homes without power", 300, 9000, 50),
    ("Officials closed {k} schools in and around {town} as a precaution.", "{k} schools closed", 4, 40, 1),
    ("At the nearby airport, {k} flights were cancelled or delayed.", "{k} flights cancelled or delayed", 12, 140, 1),
    ("Rail services were also hit, with {k} trains cancelled during the day.", "{k} trains cancelled", 10, 120, 1),
)
_SHOPS = ("bakery", "hardware shop", "flower shop", "small cafe", "bookshop", "pharmacy")


def _weather(rng: random.Random) -> tuple[_Story, Facts]:
    event, measure, lo, hi, story = rng.choice(_WEATHER_EVENTS)
    impact, impact_short, ilo, ihi, step = rng.choice(_WEATHER_IMPACTS)
    town, k = rng.choice(_TOWNS), _count(rng, ilo, ihi, step)
    facts = {
        "town": town, "weekday": rng.choice(_WEEKDAYS), "event": _cap(event),
        "measure": measure.format(k=rng.randint(lo, hi)), "year": str(rng.randint(1960, 2012)),
        "impact": impact.format(k=k, town=town), "impact_short": impact_short.format(k=k),
        "witness": _people(rng, 1)[0].full, "shop": rng.choice(_SHOPS), "calls": _count(rng, 80, 900, 10),
    }
    return story, facts


# --- sports ----------------------------------------------------------------------------------

_FOOTBALL = _Story(
    leads=(
        "{home} claimed a {s1}-{s2} win over {away} at {venue} on {weekday}.",
        "{away} were beaten {s1}-{s2} by {home} in front of {crowd} fans on {weekday}.",
        "{scorer} was the star of the show as {home} defeated {away} {s1}-{s2} on {weekday}.",
    ),
    required=("{scorer} scored {goals} for {home}.",),
    optional=(
        "A crowd of {crowd} watched the match at {venue}.",
        "The result moves {home} up to {place} place in the {league}.",
        '"The players showed great character today," said coach {coach}.',
        "{home} will play {next} away from home next {weekday2}.",
        "It was the {streak} straight win for {home}.",
        "{away} goalkeeper {keeper} made several fine saves to keep the score down.",
    ),
    summary="{home} beat {away} {s1}-{s2} on {weekday}, with {scorer} scoring {goals}.",
)
_BASKETBALL = _Story(
    leads=(
        "{home} beat {away} {s1}-{s2} at {venue} on {weekday} to stay in the race for the play-offs.",
        "{away} lost {s2}-{s1} to {home} on {weekday} after a tense final quarter.",
        "{scorer} led the way as {home} defeated {away} {s1}-{s2} on {weekday}.",
    ),
    required=("{scorer} finished the game with {goals}.",),
    optional=(
        "A crowd of {crowd} watched the game at {venue}.",
        "{home} led by {margin} points at half-time.",
        '"We played as a team from start to finish," said coach {coach}.',
        "{home} will host {next} next {weekday2}.",
        "{away} were without their captain, {keeper}, who is injured.",
        "It was the {streak} straight win for {home}.",
    ),
    summary="{home} beat {away} {s1}-{s2} on {weekday}, with {scorer} scoring {goals}.",
)
_LEAGUES = ("Northern League", "Second Division", "Regional Premier League", "Coast League", "Valley League")
_FOOTBALL_CLUBS = ("United", "Rovers", "City", "Athletic", "Wanderers", "Albion")
_BASKETBALL_CLUBS = ("Hawks", "Eagles", "Lions", "Falcons", "Bears", "Comets")


def _match_facts(rng: random.Random, clubs: tuple[str, ...]) -> Facts:
    towns, names = _towns(rng, 3), rng.sample(clubs, 3)
    scorer, coach, keeper = _people(rng, 3)
    weekday, weekday2 = rng.sample(_WEEKDAYS, 2)
    return {
        "home": f"{towns[0]} {names[0]}", "away": f"{towns[1]} {names[1]}",
        "next": f"{towns[2]} {names[2]}", "weekday": weekday, "weekday2": weekday2,
        "venue": rng.choice((f"{towns[0]} Arena", f"{rng.choice(_SURNAMES)} Park")),
        "crowd": _count(rng, 1200, 24000, 100), "scorer": scorer.full, "coach": coach.full,
        "keeper": keeper.full, "league": rng.choice(_LEAGUES), "place": rng.choice(_ORDINALS[:6]),
        "streak": rng.choice(_ORDINALS[2:]), "margin": str(rng.randint(3, 15)),
    }


def _football(rng: random.Random) -> tuple[_Story, Facts]:
    facts = _match_facts(rng, _FOOTBALL_CLUBS)
    s1 = rng.randint(1, 5)
    s2 = rng.randint(0, s1 - 1)
    goals = "the only goal" if s1 == 1 else rng.choice(("two goals", "three goals")[: min(s1, 3) - 1])
    facts.update(s1=str(s1), s2=str(s2), goals=goals)
    return _FOOTBALL, facts


def _basketball(rng: random.Random) -> tuple[_Story, Facts]:
    facts = _match_facts(rng, _BASKETBALL_CLUBS)
    s1 = rng.randint(68, 112)
    facts.update(s1=str(s1), s2=str(rng.randint(s1 - 25, s1 - 1)), goals=f"{rng.randint(18, 41)} points")
    return _BASKETBALL, facts


# --- business --------------------------------------------------------------------------------

_INVESTMENT = _Story(
    openers=("There was good news for workers in {town} this week.",),
    leads=(
        "{company} announced on {weekday} that it will invest {amount} in a new {facility} in {town}.",
        "{town} is to get a new {facility} after {company} confirmed plans to invest {amount} in the area.",
    ),
    required=("The company said the site would create {jobs} jobs when it opens in {year}.",),
    optional=(
        '"{town} has the skilled workers we need," said chief executive {ceo}.',
        "{company} already employs {staff} people at its main site in {town2}.",
        "Local officials said it was the largest investment in the region for a decade.",
        "Construction is expected to start in {month}.",
        "The company, founded in {founded}, makes {product}.",
        "Unions welcomed the news but asked for more details about wages.",
    ),
    summary="{company} will invest {amount} in a new {facility} in {town}, creating {jobs} jobs when it opens in {year}.",
)
_RESULTS = _Story(
    leads=(
        "{company}, the {town}-based maker of {product}, said on {weekday} that its annual profit "
        "rose by {pct} percent to {amount}.",
        "Strong demand for {product} pushed annual profit at {company} up by {pct} percent, to {amount}.",
    ),
    required=("Sales grew to {sales} over the same period.",),
    optional=(
        '"It has been a record year for us," said chief executive {ceo}.',
        "The company plans to hire {jobs} more staff next year.",
        "Its shares rose {spct} percent after the announcement.",
        "{company} employs {staff} people, most of them in {town}.",
        "Analysts had expected a smaller increase.",
        "The company warned that higher energy prices could slow growth this year.",
    ),
    summary="{company} reported a {pct} percent rise in annual profit to {amount}, helped by strong demand for {product}.",
)
_INDUSTRIES = (
    ("Foods", "frozen meals"), ("Textiles", "work clothes"), ("Furniture", "office chairs"),
    ("Software", "accounting software"), ("Solar", "solar panels"), ("Packaging", "paper packaging"),
    ("Engineering", "industrial pumps"), ("Pharma", "cold medicines"), ("Cycles", "electric bicycles"),
    ("Dairy", "cheese and yoghurt"),
)
_FACILITIES = ("factory", "distribution centre", "research centre", "warehouse", "production plant")


def _company_facts(rng: random.Random) -> Facts:
    industry, product = rng.choice(_INDUSTRIES)
    town, town2 = _towns(rng, 2)
    return {
        "company": f"{rng.choice(_SURNAMES)} {industry}", "product": product, "town": town,
        "town2": town2, "weekday": rng.choice(_WEEKDAYS), "month": rng.choice(_MONTHS),
        "ceo": _people(rng, 1)[0].full, "staff": _count(rng, 150, 4000, 10),
        "founded": str(rng.randint(1920, 2010)), "jobs": _count(rng, 40, 900, 10),
    }


def _investment(rng: random.Random) -> tuple[_Story, Facts]:
    facts = _company_facts(rng)
    facts.update(amount=_money(rng, 5, 90), facility=rng.choice(_FACILITIES), year=str(rng.randint(2025, 2029)))
    return _INVESTMENT, facts


def _results(rng: random.Random) -> tuple[_Story, Facts]:
    facts = _company_facts(rng)
    facts.update(amount=_money(rng, 1, 20), sales=_money(rng, 40, 400),
                 pct=str(rng.randint(4, 45)), spct=str(rng.randint(2, 12)))
    return _RESULTS, facts


# --- science ---------------------------------------------------------------------------------

_SCIENCE = _Story(
    openers=("Scientists in {town} have published surprising new results.",),
    leads=(
        "Researchers at the University of {town} say that {finding}.",
        "A new study from the University of {town} suggests that {finding}.",
    ),
    required=("The team, led by Dr {lead}, studied {n} {subjects} over {months} months.",),
    optional=(
        "The results were published this week in the Journal of {field}.",
        '"We were surprised by how clear the results were," said Dr {lead_last}.',
        "Other scientists said larger studies were needed to confirm the findings.",
        "The research was funded by {funder}.",
        "The team now plans to repeat the study in {town2}.",
    ),
    summary="A study of {n} {subjects} by the University of {town} found that {finding}.",
)
# (finding, subjects, field, (lo, hi) for {m}, (lo, hi) for {p})
_FINDINGS = (
    ("adults who walked at least {m} minutes a day slept {p} percent longer", "adults", "Sleep Research",
     (20, 45), (8, 25)),
    ("children who read aloud daily learned {p} percent more words", "primary school pupils",
     "Child Development", (1, 1), (10, 40)),
    ("a new coating kept solar panels free of dust for {m} months", "solar panels", "Energy Materials",
     (3, 12), (1, 1)),
    ("honeybees visited blue flowers {p} percent more often than yellow ones", "bee colonies",
     "Insect Behaviour", (1, 1), (12, 60)),
    ("drivers who took a break every {m} minutes made fewer mistakes", "volunteer drivers", "Road Safety",
     (60, 120), (1, 1)),
    ("a common soil fungus broke down plastic bags in {m} weeks", "soil samples", "Environmental Microbiology",
     (6, 20), (1, 1)),
    ("office workers sitting near windows had {p} percent fewer headaches", "office workers",
     "Workplace Health", (1, 1), (10, 35)),
    ("cows that listened to calm music produced {p} percent more milk", "dairy cows", "Animal Science",
     (1, 1), (3, 12)),
)
_FUNDERS = ("a national science foundation", "a local charity", "the European research council", "a private donor")


def _science(rng: random.Random) -> tuple[_Story, Facts]:
    finding, subjects, field, m_range, p_range = rng.choice(_FINDINGS)
    lead = _people(rng, 1)[0]
    town, town2 = _towns(rng, 2)
    facts = {
        "finding": finding.format(m=rng.randint(*m_range), p=rng.randint(*p_range)),
        "subjects": subjects, "field": field, "town": town, "town2": town2, "lead": lead.full,
        "lead_last": lead.last, "n": _count(rng, 40, 2400, 10), "months": str(rng.randint(3, 36)),
        "funder": rng.choice(_FUNDERS),
    }
    return _SCIENCE, facts


# --- health ----------------------------------------------------------------------------------

_HEALTH = _Story(
    leads=(
        "A new {unit} opened at {hospital} in {town} on {weekday}.",
        "Patients in {town} will no longer have to travel to {town2} for treatment after {hospital} "
        "opened a new {unit} on {weekday}.",
    ),
    required=("The {unit}, which cost {amount}, can treat up to {cap} patients a day.",),
    optional=(
        "The hospital has hired {staff} extra nurses and doctors to run it.",
        '"This will cut waiting times for thousands of families," said {director}, the hospital\'s director.',
        "Until now, patients often waited more than {weeks} weeks for an appointment.",
        "The building took {dur} months to complete.",
        "It was officially opened by the health minister, {minister}.",
        "Part of the cost was raised by local charities.",
    ),
    summary="{hospital} in {town} opened a new {unit} that cost {amount} and can treat up to {cap} patients a day.",
)
_UNITS = (
    "children's ward", "eye clinic", "heart unit", "emergency department", "cancer treatment centre",
    "maternity unit", "physiotherapy centre",
)
_SAINTS = ("Anne", "Luke", "Mary", "Thomas", "Catherine", "Peter", "Helena", "Mark")


def _health(rng: random.Random) -> tuple[_Story, Facts]:
    director, minister = _people(rng, 2)
    town, town2 = _towns(rng, 2)
    hospital = rng.choice((f"St {rng.choice(_SAINTS)}'s Hospital", f"the {rng.choice(_SURNAMES)} Medical Centre"))
    facts = {
        "unit": rng.choice(_UNITS), "hospital": hospital, "town": town, "town2": town2,
        "weekday": rng.choice(_WEEKDAYS), "amount": _money(rng, 2, 60), "cap": _count(rng, 40, 400, 10),
        "staff": str(rng.randint(12, 150)), "director": director.full, "minister": minister.full,
        "weeks": str(rng.randint(4, 20)), "dur": str(rng.randint(10, 40)),
    }
    return _HEALTH, facts


# --- culture ---------------------------------------------------------------------------------

_FESTIVAL = _Story(
    leads=(
        "The {festival} closed on {weekday} after {days} days of {activities}.",
        "For {days} days, crowds filled the streets of {town} for the {nth} edition of the {festival}.",
    ),
    required=("Organisers said {visitors} people attended, beating the previous record of {prev}.",),
    optional=(
        "The highlight for many was {highlight}.",
        '"We are delighted with the response," said festival director {director}.',
        "Hotels in the town reported that almost every room was booked.",
        "Tickets for next year's festival will go on sale in {month}.",
        "About a third of the events were free.",
        "Local restaurants and cafes said business had doubled during the week.",
    ),
    summary="The {festival} drew a record {visitors} visitors over {days} days, organisers said.",
)
_FESTIVAL_KINDS = (
    ("Jazz", "concerts and jam sessions", "a late-night concert by the {last} Quartet"),
    ("Film", "screenings and talks", "the premiere of a documentary about {town}"),
    ("Folk Music", "concerts and dances", "an open-air concert by {person}"),
    ("Food", "tastings and cooking demonstrations", "a cooking contest judged by the chef {person}"),
    ("Book", "readings and talks", "a reading by the novelist {person}"),
    ("Theatre", "performances and workshops", "a new play by {person}"),
)


def _festival(rng: random.Random) -> tuple[_Story, Facts]:
    kind, activities, highlight = rng.choice(_FESTIVAL_KINDS)
    director, artist = _people(rng, 2)
    town = rng.choice(_TOWNS)
    visitors = rng.randrange(5000, 120001, 100)
    facts = {
        "festival": f"{town} {kind} Festival", "town": town, "activities": activities,
        "highlight": highlight.format(last=artist.last, town=town, person=artist.full),
        "weekday": rng.choice(_WEEKDAYS), "days": str(rng.randint(2, 10)), "nth": f"{rng.randint(4, 40)}th",
        "visitors": _num(visitors), "prev": _num(visitors * rng.randint(70, 95) // 10000 * 100),
        "director": director.full, "month": rng.choice(_MONTHS),
    }
    return _FESTIVAL, facts


_EXHIBITION = _Story(
    leads=(
        "A major exhibition of work by the painter {artist} opened at {museum} in {town} on {weekday}.",
        "Visitors to {museum} in {town} can now see the largest collection of paintings by {artist} "
        "ever shown in one place.",
    ),
    required=("The show brings together {k} paintings from public and private collections and runs until {month}.",),
    optional=(
        "{artist_last}, who was born in {town2} in {born}, painted mostly {subjects}.",
        '"Many of these works have never been seen in public before," said the curator, {curator}.',
        "Tickets cost ${price}, and children under twelve go free.",
        "The gallery expects more than {expected} visitors before the show closes.",
        "Some of the paintings were lent by collectors in {country}.",
    ),
    summary="{museum} in {town} opened an exhibition of {k} paintings by {artist}, which runs until {month}.",
)
_PAINTED = ("landscapes", "portraits", "harbour scenes", "still lifes", "city streets", "mountains")
_COUNTRIES = ("Italy", "Japan", "Canada", "Norway", "Brazil", "Spain", "Poland", "Ireland")


def _exhibition(rng: random.Random) -> tuple[_Story, Facts]:
    artist, curator = _people(rng, 2)
    town, town2 = _towns(rng, 2)
    museum = rng.choice((f"the {rng.choice(_SURNAMES)} Gallery", "the City Museum",
                         f"the {rng.choice(_SURNAMES)} Art Centre", "the Old Town Gallery"))
    facts = {
        "artist": artist.full, "artist_last": artist.last, "curator": curator.full, "museum": museum,
        "town": town, "town2": town2, "weekday": rng.choice(_WEEKDAYS), "month": rng.choice(_MONTHS),
        "k": str(rng.randint(25, 140)), "born": str(rng.randint(1850, 1960)), "subjects": rng.choice(_PAINTED),
        "price": str(rng.randint(8, 20)), "expected": _count(rng, 10000, 90000, 1000),
        "country": rng.choice(_COUNTRIES),
    }
    return _EXHIBITION, facts


# --- transport -------------------------------------------------------------------------------

_TRANSPORT_OPTIONAL = (
    "{operator_cap} carries about {riders} passengers a day.",
    '"We want public transport to be the first choice for everyone," said {manager}, the director of {operator}.',
    "Passenger groups gave the news a mixed welcome.",
    "New timetables will be published online {weeks} weeks before the change.",
    "Ticket prices for students and pensioners will not change.",
    "The plan was approved by the {town} council in {month}.",
)
_FARES = _Story(
    leads=(
        "Bus passengers in {town} will pay {pct} percent more from {date}, {operator} said on {weekday}.",
        "{operator_cap} has announced that bus fares in {town} will rise by {pct} percent on {date}.",
    ),
    required=("The company said the increase was needed to pay for {purpose}.",),
    optional=_TRANSPORT_OPTIONAL,
    summary="{operator} will raise bus fares in {town} by {pct} percent from {date} to pay for {purpose}.",
)
_ROUTES = _Story(
    leads=(
        "{operator_cap} is to add {k} new bus routes in {town}, including a night service to {town2}.",
        "Passengers in {town} will soon have more choice, with {k} new bus routes planned by {operator}, "
        "among them a night service to {town2}.",
    ),
    required=("The new routes will start running on {date}.",),
    optional=_TRANSPORT_OPTIONAL,
    summary="{operator} will add {k} new bus routes in {town} from {date}, including a night service to {town2}.",
)
_TRAM = _Story(
    leads=(
        "A new tram line linking the centre of {town} with {district} will open on {date}.",
        "Trams will run between {district} and the centre of {town} from {date}, {operator} announced on {weekday}.",
    ),
    required=("The {km}-kilometre line has {stops} stops and cost {amount}.",),
    optional=_TRANSPORT_OPTIONAL,
    summary="A new {km}-kilometre tram line with {stops} stops will link {district} to the centre of {town} from {date}.",
)
_FARE_PURPOSES = ("new electric buses", "higher fuel costs", "longer evening services", "new ticket machines")
_DISTRICTS = (
    "the university", "the airport", "the main hospital", "the old harbour", "the northern suburbs",
    "the new business park",
)


def _transport(rng: random.Random) -> tuple[_Story, Facts]:
    town, town2 = _towns(rng, 2)
    operator = rng.choice((f"{town} City Transport", f"{town} Buses", "the regional transport authority"))
    facts = {
        "town": town, "town2": town2, "operator": operator, "operator_cap": _cap(operator),
        "date": _date(rng), "weekday": rng.choice(_WEEKDAYS), "month": rng.choice(_MONTHS),
        "pct": str(rng.randint(3, 15)), "purpose": rng.choice(_FARE_PURPOSES), "k": str(rng.randint(3, 12)),
        "district": rng.choice(_DISTRICTS), "km": str(rng.randint(4, 18)), "stops": str(rng.randint(8, 30)),
        "amount": _money(rng, 40, 300), "riders": _count(rng, 20000, 400000, 1000),
        "manager": _people(rng, 1)[0].full, "weeks": str(rng.randint(2, 6)),
    }
    return rng.choice((_FARES, _ROUTES, _TRAM)), facts


# --- environment and education ---------------------------------------------------------------

_TREES = _Story(
    leads=(
        "More than {volunteers} volunteers spent {weekday} planting trees along the banks of the River {river} in {town}.",
        "The banks of the River {river} in {town} look greener after a day of tree planting on {weekday}.",
    ),
    required=(
        "By the end of the day, volunteers had planted {k} young trees, most of them {species}.",
        "The event was organised by {group}, a local environmental group.",
    ),
    optional=(
        "The project aims to {aim}.",
        '"Every tree we plant today will help the river," said {organiser}, one of the organisers.',
        "A second planting day is planned for {month}.",
        "The council provided tools, gloves and water for the volunteers.",
        "Children from {schools} local schools also took part.",
    ),
    summary="Volunteers planted {k} trees along the River {river} in {town} on {weekday} in an event organised by {group}.",
)
_SPECIES = ("willows", "alders", "oaks", "birches", "wild cherries")
_AIMS = (
    "reduce flooding in the town centre", "give shade to the fish in the river",
    "stop the riverbanks from washing away", "bring birds back to the area",
)


def _trees(rng: random.Random) -> tuple[_Story, Facts]:
    town, river = rng.choice(_TOWNS), rng.choice(_RIVERS)
    group = rng.choice((f"Friends of the River {river}", f"Green {town}", f"the {town} Nature Trust"))
    facts = {
        "town": town, "river": river, "group": group, "weekday": rng.choice(_WEEKDAYS),
        "volunteers": str(rng.randrange(40, 401, 10)), "k": _count(rng, 200, 3000, 50),
        "species": rng.choice(_SPECIES), "aim": rng.choice(_AIMS), "organiser": _people(rng, 1)[0].full,
        "month": rng.choice(_MONTHS), "schools": str(rng.randint(2, 9)),
    }
    return _TREES, facts


_SCHOOL = _Story(
    leads=(
        "Work has finished on {school}, the first new school to be built in {town} for {ago} years.",
        "Builders have handed over the keys to {school} in {town}, ahead of its opening after the summer.",
    ),
    required=(
        "It will welcome its first {k} pupils in {month}.",
        "The building cost {amount} and has {rooms} classrooms, a library and a sports hall.",
    ),
    optional=(
        '"Our pupils deserve the best possible start," said the head teacher, {head}.',
        "The school has solar panels on its roof and a garden where children can grow vegetables.",
        "Parents had campaigned for a new school for several years.",
        "The old school building on {street} will be turned into a community centre.",
        "Around {staff} teachers and assistants have been hired.",
    ),
    summary="{school}, a new school in {town} that cost {amount}, will welcome its first {k} pupils in {month}.",
)
_STREETS = ("Mill Road", "Church Street", "Station Road", "High Street", "Market Lane", "Bridge Street")


def _school(rng: random.Random) -> tuple[_Story, Facts]:
    facts = {
        "school": f"{rng.choice(_SURNAMES)} {rng.choice(('Primary School', 'Academy', 'Secondary School'))}",
        "town": rng.choice(_TOWNS), "ago": str(rng.randint(10, 40)), "k": str(rng.randrange(120, 901, 10)),
        "month": rng.choice(("August", "September", "January")), "amount": _money(rng, 8, 45),
        "rooms": str(rng.randint(12, 40)), "head": _people(rng, 1)[0].full, "street": rng.choice(_STREETS),
        "staff": str(rng.randint(20, 80)),
    }
    return _SCHOOL, facts


_SUMMARY_MAKERS: tuple[Callable[[random.Random], tuple[_Story, Facts]], ...] = (
    _council, _weather, _football, _basketball, _investment, _results, _science, _health,
    _festival, _exhibition, _transport, _trees, _school,
)


# --------------------------------------------------------------------------------------------
# qa: passages about fictional people, events, places and organisations, extractive answers
# --------------------------------------------------------------------------------------------

# A passage sentence and the questions it answers: (question template, key of the answer fact).
_QASentence = tuple[str, tuple[tuple[str, str], ...]]


@dataclass(frozen=True)
class _Passage:
    facts: Callable[[random.Random], Facts]
    sentences: tuple[_QASentence, ...]  # the first one is always kept


def _qa_row(rng: random.Random) -> Row:
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


# --------------------------------------------------------------------------------------------
# translate: Bulgarian (Cyrillic) -> English, built compositionally from a small lexicon
# --------------------------------------------------------------------------------------------

_PERSONS = ("1sg", "2sg", "3sg", "1pl", "2pl", "3pl")


@dataclass(frozen=True)
class _Verb:
    """A transitive verb: imperfective present (1sg, 3sg) and perfective aorist (1sg, 3sg)."""

    key: str
    pres1: str
    pres3: str
    aor1: str
    aor3: str
    en: str  # English present, base form
    en3: str  # English present, 3rd person singular
    en_past: str  # English simple past (translates the aorist)
    en_past_base: str  # base form used after "did"

    def bg(self, person: str, past: bool) -> str:
        return _bg_aorist(self, person) if past else _bg_present(self, person)

    def english(self, person: str, past: bool) -> str:
        if past:
            return self.en_past
        return self.en3 if person == "3sg" else self.en


_IRREGULAR_PRESENT = {"ям": ("ям", "ядеш", "яде", "ядем", "ядете", "ядат")}


def _bg_present(verb: _Verb, person: str) -> str:
    """Present tense from 1sg and 3sg: е-/и-conjugation (чета, нося) or а-conjugation (чакам)."""
    if verb.pres1 in _IRREGULAR_PRESENT:
        return _IRREGULAR_PRESENT[verb.pres1][_PERSONS.index(person)]
    third, a_class = verb.pres3, verb.pres1.endswith("м")
    forms = {
        "1sg": verb.pres1, "2sg": third + "ш", "3sg": third, "1pl": third + ("ме" if a_class else "м"),
        "2pl": third + "те", "3pl": third + "т" if a_class else verb.pres1 + "т",
    }
    return forms[person]


def _bg_aorist(verb: _Verb, person: str) -> str:
    """Aorist from 1sg (прочетох) and 2/3sg (прочете): -хме, -хте, -ха in the plural."""
    forms = {
        "1sg": verb.aor1, "2sg": verb.aor3, "3sg": verb.aor3,
        "1pl": verb.aor1 + "ме", "2pl": verb.aor1 + "те", "3pl": verb.aor1 + "а",
    }
    return forms[person]


_VERBS = tuple(_Verb(*row) for row in (
    ("read", "чета", "чете", "прочетох", "прочете", "read", "reads", "read", "read"),
    ("write", "пиша", "пише", "написах", "написа", "write", "writes", "wrote", "write"),
    ("buy", "купувам", "купува", "купих", "купи", "buy", "buys", "bought", "buy"),
    ("sell", "продавам", "продава", "продадох", "продаде", "sell", "sells", "sold", "sell"),
    ("drink", "пия", "пие", "изпих", "изпи", "drink", "drinks", "drank", "drink"),
    ("eat", "ям", "яде", "изядох", "изяде", "eat", "eats", "ate", "eat"),
    ("cook", "готвя", "готви", "сготвих", "сготви", "cook", "cooks", "cooked", "cook"),
    ("clean", "чистя", "чисти", "почистих", "почисти", "clean", "cleans", "cleaned", "clean"),
    ("wash", "мия", "мие", "измих", "изми", "wash", "washes", "washed", "wash"),
    ("open", "отварям", "отваря", "отворих", "отвори", "open", "opens", "opened", "open"),
    ("close", "затварям", "затваря", "затворих", "затвори", "close", "closes", "closed", "close"),
    ("watch", "гледам", "гледа", "изгледах", "изгледа", "watch", "watches", "watched", "watch"),
    ("repair", "поправям", "поправя", "поправих", "поправи", "repair", "repairs", "repaired", "repair"),
    ("carry", "нося", "носи", "донесох", "донесе", "carry", "carries", "brought", "bring"),
    ("find", "търся", "търси", "намерих", "намери", "look for", "looks for", "found", "find"),
    ("lose", "губя", "губи", "загубих", "загуби", "lose", "loses", "lost", "lose"),
    ("draw", "рисувам", "рисува", "нарисувах", "нарисува", "draw", "draws", "drew", "draw"),
    ("order", "поръчвам", "поръчва", "поръчах", "поръча", "order", "orders", "ordered", "order"),
    ("take", "вземам", "взема", "взех", "взе", "take", "takes", "took", "take"),
    ("send", "изпращам", "изпраща", "изпратих", "изпрати", "send", "sends", "sent", "send"),
    ("receive", "получавам", "получава", "получих", "получи", "receive", "receives", "received", "receive"),
    ("visit", "посещавам", "посещава", "посетих", "посети", "visit", "visits", "visited", "visit"),
    ("paint", "боядисвам", "боядисва", "боядисах", "боядиса", "paint", "paints", "painted", "paint"),
))
_HAVE = _Verb("have", "имам", "има", "", "", "have", "has", "", "")
_HAVE_NOT = _Verb("have not", "нямам", "няма", "", "", "", "", "", "")


@dataclass(frozen=True)
class _Adj:
    m: str
    f: str
    n: str
    pl: str
    m_def: str  # masculine definite (short, non-subject) form
    en: str

    def form(self, gender: str) -> str:
        return {"m": self.m, "f": self.f, "n": self.n, "pl": self.pl}[gender]

    def definite(self, gender: str) -> str:
        return {"m": self.m_def, "f": self.f + "та", "n": self.n + "то", "pl": self.pl + "те"}[gender]


_ADJS = {row[-1]: _Adj(*row) for row in (
    ("нов", "нова", "ново", "нови", "новия", "new"),
    ("стар", "стара", "старо", "стари", "стария", "old"),
    ("голям", "голяма", "голямо", "големи", "големия", "big"),
    ("малък", "малка", "малко", "малки", "малкия", "small"),
    ("червен", "червена", "червено", "червени", "червения", "red"),
    ("син", "синя", "синьо", "сини", "синия", "blue"),
    ("зелен", "зелена", "зелено", "зелени", "зеления", "green"),
    ("бял", "бяла", "бяло", "бели", "белия", "white"),
    ("черен", "черна", "черно", "черни", "черния", "black"),
    ("хубав", "хубава", "хубаво", "хубави", "хубавия", "nice"),
    ("интересен", "интересна", "интересно", "интересни", "интересния", "interesting"),
    ("скъп", "скъпа", "скъпо", "скъпи", "скъпия", "expensive"),
    ("евтин", "евтина", "евтино", "евтини", "евтиния", "cheap"),
    ("тежък", "тежка", "тежко", "тежки", "тежкия", "heavy"),
    ("лек", "лека", "леко", "леки", "лекия", "light"),
    ("топъл", "топла", "топло", "топли", "топлия", "warm"),
    ("студен", "студена", "студено", "студени", "студения", "cold"),
    ("горещ", "гореща", "горещо", "горещи", "горещия", "hot"),
    ("пресен", "прясна", "прясно", "пресни", "пресния", "fresh"),
    ("вкусен", "вкусна", "вкусно", "вкусни", "вкусния", "tasty"),
    ("чист", "чиста", "чисто", "чисти", "чистия", "clean"),
    ("мръсен", "мръсна", "мръсно", "мръсни", "мръсния", "dirty"),
    ("дълъг", "дълга", "дълго", "дълги", "дългия", "long"),
    ("кратък", "кратка", "кратко", "кратки", "краткия", "short"),
    ("важен", "важна", "важно", "важни", "важния", "important"),
    ("счупен", "счупена", "счупено", "счупени", "счупения", "broken"),
    ("празен", "празна", "празно", "празни", "празния", "empty"),
    ("пълен", "пълна", "пълно", "пълни", "пълния", "full"),
    ("тих", "тиха", "тихо", "тихи", "тихия", "quiet"),
    ("известен", "известна", "известно", "известни", "известния", "famous"),
    ("бърз", "бърза", "бързо", "бързи", "бързия", "fast"),
    ("висок", "висока", "високо", "високи", "високия", "tall"),
)}
# Which adjectives make sense with which kind of noun.
_ADJ_CLASSES = {cls: tuple(_ADJS[word] for word in words.split()) for cls, words in {
    "thing": "new old big small red blue green white black nice expensive cheap broken heavy",
    "text": "interesting long short important new old",
    "food": "fresh tasty big small warm cold",
    "meal": "fresh tasty warm cold hot",
    "drink": "hot cold warm fresh",
    "room": "big small quiet warm cold nice empty",
    "place": "old big small nice famous new",
    "vehicle": "new old red blue white black expensive cheap broken fast",
    "device": "new old broken expensive cheap small black white",
    "clothes": "new old clean dirty red blue white black warm expensive",
    "box": "big small heavy light empty full old new",
    "key": "new old small big",
    "ticket": "cheap expensive",
    "flower": "red white blue fresh nice",
    "show": "interesting long short new old important",
    "dish": "clean dirty big small white empty full",
    "animal": "big small white black old nice",
    "nature": "big small old tall",
}.items()}
# Adjectives that describe people, for "X is tired" (m, f, n, pl, English).
_PERSON_ADJS = (
    ("уморен", "уморена", "уморено", "уморени", "tired"), ("щастлив", "щастлива", "щастливо", "щастливи", "happy"),
    ("зает", "заета", "заето", "заети", "busy"), ("болен", "болна", "болно", "болни", "ill"),
    ("гладен", "гладна", "гладно", "гладни", "hungry"), ("доволен", "доволна", "доволно", "доволни", "pleased"),
    ("спокоен", "спокойна", "спокойно", "спокойни", "calm"), ("весел", "весела", "весело", "весели", "cheerful"),
    ("ядосан", "ядосана", "ядосано", "ядосани", "angry"), ("жаден", "жадна", "жадно", "жадни", "thirsty"),
    ("нервен", "нервна", "нервно", "нервни", "nervous"), ("тъжен", "тъжна", "тъжно", "тъжни", "sad"),
)


@dataclass(frozen=True)
class _Noun:
    bg: str
    gender: str  # "m", "f" or "n"
    short: str  # masculine short definite form, which is also the count form after numbers
    pl: str  # "" for mass nouns
    en: str
    en_pl: str
    adj: str  # key into _ADJ_CLASSES
    verbs: frozenset[str]
    size: str  # "small", "medium", "vehicle" or "" (where it can be: see _LOCATIONS)

    @property
    def mass(self) -> bool:
        return not self.pl

    def definite(self, plural: bool = False, subject: bool = False) -> str:
        """With the article; a masculine subject takes the full article (столът, not стола)."""
        if plural:
            return self.pl + ("та" if self.pl[-1] in "ая" else "те")
        if self.gender == "m":
            return self.short[:-1] + ("ят" if self.short.endswith("я") else "ът") if subject else self.short
        return self.bg + ("та" if self.gender == "f" else "то")

    def counted(self) -> str:
        return self.short if self.gender == "m" else self.pl


_NOUNS = tuple(_Noun(bg, g, short, pl, en, en_pl, adj, frozenset(verbs.split()), size) for (
    bg, g, short, pl, en, en_pl, adj, verbs, size) in (
    ("книга", "f", "", "книги", "book", "books", "text", "read buy carry find take sell", "small"),
    ("вестник", "m", "вестника", "вестници", "newspaper", "newspapers", "text", "read buy carry take", "small"),
    ("писмо", "n", "", "писма", "letter", "letters", "text", "read write send receive open carry", "small"),
    ("списание", "n", "", "списания", "magazine", "magazines", "text", "read buy take", "small"),
    ("статия", "f", "", "статии", "article", "articles", "text", "read write send", ""),
    ("доклад", "m", "доклада", "доклади", "report", "reports", "text", "read write send receive", "small"),
    ("съобщение", "n", "", "съобщения", "message", "messages", "text", "read write send receive", ""),
    ("ябълка", "f", "", "ябълки", "apple", "apples", "food", "eat buy sell draw carry", "small"),
    ("торта", "f", "", "торти", "cake", "cakes", "food", "eat buy order carry", "small"),
    ("сандвич", "m", "сандвича", "сандвичи", "sandwich", "sandwiches", "food", "eat buy order take", "small"),
    ("салата", "f", "", "салати", "salad", "salads", "food", "eat order", ""),
    ("пица", "f", "", "пици", "pizza", "pizzas", "food", "eat buy order", "small"),
    ("супа", "f", "", "", "soup", "", "meal", "eat cook order", ""),
    ("хляб", "m", "хляба", "", "bread", "", "meal", "eat buy carry", "small"),
    ("кафе", "n", "", "", "coffee", "", "drink", "drink order buy", ""),
    ("чай", "m", "чая", "", "tea", "", "drink", "drink order buy", ""),
    ("вода", "f", "", "", "water", "", "drink", "drink buy", ""),
    ("сок", "m", "сока", "", "juice", "", "drink", "drink order buy", ""),
    ("мляко", "n", "", "", "milk", "", "drink", "drink buy", ""),
    ("стая", "f", "", "стаи", "room", "rooms", "room", "clean paint", ""),
    ("кухня", "f", "", "кухни", "kitchen", "kitchens", "room", "clean paint", ""),
    ("къща", "f", "", "къщи", "house", "houses", "place", "buy sell paint draw clean", ""),
    ("апартамент", "m", "апартамента", "апартаменти", "flat", "flats", "room", "buy sell clean", ""),
    ("врата", "f", "", "врати", "door", "doors", "thing", "open close paint repair", ""),
    ("прозорец", "m", "прозореца", "прозорци", "window", "windows", "thing", "open close wash clean repair", ""),
    ("кутия", "f", "", "кутии", "box", "boxes", "box", "open close carry find take", "small"),
    ("кола", "f", "", "коли", "car", "cars", "vehicle", "buy sell wash repair draw", "vehicle"),
    ("велосипед", "m", "велосипеда", "велосипеди", "bicycle", "bicycles", "vehicle", "buy sell wash repair", "vehicle"),
    ("компютър", "m", "компютъра", "компютри", "computer", "computers", "device", "buy sell repair", "small"),
    ("телефон", "m", "телефона", "телефони", "phone", "phones", "device", "buy sell repair lose find", "small"),
    ("часовник", "m", "часовника", "часовници", "watch", "watches", "device", "buy repair lose find", "small"),
    ("лампа", "f", "", "лампи", "lamp", "lamps", "thing", "buy repair carry", "medium"),
    ("риза", "f", "", "ризи", "shirt", "shirts", "clothes", "buy wash", "small"),
    ("чанта", "f", "", "чанти", "bag", "bags", "thing", "buy carry lose find open take", "small"),
    ("палто", "n", "", "палта", "coat", "coats", "clothes", "buy lose find take", "small"),
    ("стол", "m", "стола", "столове", "chair", "chairs", "thing", "buy sell repair paint carry", "medium"),
    ("маса", "f", "", "маси", "table", "tables", "thing", "buy sell repair paint clean", "medium"),
    ("легло", "n", "", "легла", "bed", "beds", "thing", "buy sell", "medium"),
    ("ключ", "m", "ключа", "ключове", "key", "keys", "key", "lose find take", "small"),
    ("чадър", "m", "чадъра", "чадъри", "umbrella", "umbrellas", "thing", "buy lose find take", "small"),
    ("билет", "m", "билета", "билети", "ticket", "tickets", "ticket", "buy lose find order", "small"),
    ("подарък", "m", "подаръка", "подаръци", "gift", "gifts", "thing", "buy send receive open carry", "small"),
    ("цвете", "n", "", "цветя", "flower", "flowers", "flower", "buy draw sell", "small"),
    ("картина", "f", "", "картини", "picture", "pictures", "thing", "buy sell draw", "medium"),
    ("филм", "m", "филма", "филми", "film", "films", "show", "watch", ""),
    ("мач", "m", "мача", "мачове", "match", "matches", "show", "watch", ""),
    ("колет", "m", "колета", "колети", "parcel", "parcels", "box", "send receive open carry", "small"),
    ("ограда", "f", "", "огради", "fence", "fences", "thing", "paint repair", ""),
    ("стена", "f", "", "стени", "wall", "walls", "thing", "paint clean", ""),
    ("музей", "m", "музея", "музеи", "museum", "museums", "place", "visit", ""),
    ("дърво", "n", "", "дървета", "tree", "trees", "nature", "draw", ""),
    ("куче", "n", "", "кучета", "dog", "dogs", "animal", "draw wash", "pet"),
    ("котка", "f", "", "котки", "cat", "cats", "animal", "draw", "pet"),
    ("град", "m", "града", "градове", "city", "cities", "place", "visit draw", ""),
    ("замък", "m", "замъка", "замъци", "castle", "castles", "place", "visit draw", ""),
    ("църква", "f", "", "църкви", "church", "churches", "place", "visit draw", ""),
    ("чиния", "f", "", "чинии", "plate", "plates", "dish", "wash buy", "small"),
    ("чаша", "f", "", "чаши", "glass", "glasses", "dish", "wash buy", "small"),
))
_NOUNS_FOR = {verb.key: tuple(n for n in _NOUNS if verb.key in n.verbs) for verb in _VERBS}
_OWNABLE = tuple(n for n in _NOUNS if n.size and not n.mass and n.adj != "food")


@dataclass(frozen=True)
class _Subject:
    bg: str
    en: str
    person: str
    gender: str  # "m", "f", "pl" or "" (аз/ти: either)
    pronoun: bool = False


_PRONOUNS = tuple(_Subject(*row, pronoun=True) for row in (
    ("аз", "I", "1sg", ""), ("ти", "you", "2sg", ""), ("той", "he", "3sg", "m"), ("тя", "she", "3sg", "f"),
    ("ние", "we", "1pl", "pl"), ("вие", "you", "2pl", "pl"), ("те", "they", "3pl", "pl"),
))
_NAMES = (  # (Bulgarian, English, gender)
    ("Иван", "Ivan", "m"), ("Георги", "Georgi", "m"), ("Петър", "Petar", "m"), ("Димитър", "Dimitar", "m"),
    ("Николай", "Nikolay", "m"), ("Стефан", "Stefan", "m"), ("Калин", "Kalin", "m"), ("Христо", "Hristo", "m"),
    ("Йордан", "Yordan", "m"), ("Мария", "Maria", "f"), ("Елена", "Elena", "f"), ("Ана", "Ana", "f"),
    ("Виктория", "Viktoria", "f"), ("Калина", "Kalina", "f"), ("Милена", "Milena", "f"),
    ("Теодора", "Teodora", "f"), ("Десислава", "Desislava", "f"),
)
_NOUN_SUBJECTS = tuple(_Subject(*row) for row in (
    ("учителят", "the teacher", "3sg", "m"), ("лекарят", "the doctor", "3sg", "m"),
    ("студентът", "the student", "3sg", "m"), ("готвачът", "the cook", "3sg", "m"),
    ("шофьорът", "the driver", "3sg", "m"), ("продавачът", "the shop assistant", "3sg", "m"),
    ("журналистът", "the journalist", "3sg", "m"), ("инженерът", "the engineer", "3sg", "m"),
    ("художникът", "the artist", "3sg", "m"), ("съседът", "the neighbour", "3sg", "m"),
    ("пощальонът", "the postman", "3sg", "m"), ("директорът", "the director", "3sg", "m"),
    ("учителката", "the teacher", "3sg", "f"), ("студентката", "the student", "3sg", "f"),
    ("продавачката", "the shop assistant", "3sg", "f"), ("журналистката", "the journalist", "3sg", "f"),
    ("художничката", "the artist", "3sg", "f"), ("съседката", "the neighbour", "3sg", "f"),
    ("медицинската сестра", "the nurse", "3sg", "f"),
    ("брат ми", "my brother", "3sg", "m"), ("баща ми", "my father", "3sg", "m"), ("дядо ми", "my grandfather", "3sg", "m"),
    ("чичо ми", "my uncle", "3sg", "m"), ("братовчед ми", "my cousin", "3sg", "m"),
    ("сестра ми", "my sister", "3sg", "f"), ("майка ми", "my mother", "3sg", "f"),
    ("баба ми", "my grandmother", "3sg", "f"), ("леля ми", "my aunt", "3sg", "f"),
    ("учителите", "the teachers", "3pl", "pl"), ("студентите", "the students", "3pl", "pl"),
    ("децата", "the children", "3pl", "pl"), ("съседите", "the neighbours", "3pl", "pl"),
    ("родителите ми", "my parents", "3pl", "pl"), ("приятелите ми", "my friends", "3pl", "pl"),
    ("лекарите", "the doctors", "3pl", "pl"), ("туристите", "the tourists", "3pl", "pl"),
    ("учениците", "the pupils", "3pl", "pl"), ("работниците", "the workers", "3pl", "pl"),
)) + tuple(_Subject(bg, en, "3sg", g) for bg, en, g in _NAMES)

# Places: (Bulgarian, English, verbs they go with). "във" before в/ф is required.
_PLACES = tuple((bg, en, frozenset(verbs.split())) for bg, en, verbs in (
    ("в библиотеката", "in the library", "read write"),
    ("в парка", "in the park", "read eat drink draw lose find"),
    ("в кухнята", "in the kitchen", "eat drink cook read"),
    ("вкъщи", "at home", "read write eat drink cook watch"),
    ("в офиса", "at the office", "read write drink send receive lose find"),
    ("в кафенето", "at the cafe", "read write drink eat order"),
    ("в ресторанта", "at the restaurant", "eat drink order"),
    ("в хотела", "at the hotel", "eat watch order lose find"),
    ("на пазара", "at the market", "buy sell"),
    ("в центъра", "in the city centre", "buy lose find"),
    ("в киното", "at the cinema", "watch"),
    ("на плажа", "on the beach", "read eat drink lose find draw"),
    ("на гарата", "at the station", "buy lose find read"),
    ("във влака", "on the train", "read write eat drink lose"),
    ("в училище", "at school", "read write draw lose find"),
    ("в университета", "at the university", "read write"),
    ("на работа", "at work", "read write eat drink"),
    ("в градината", "in the garden", "read eat drink draw"),
))
_PRESENT_TIMES = (
    ("всеки ден", "every day"), ("всяка сутрин", "every morning"), ("всяка вечер", "every evening"),
    ("всяка седмица", "every week"), ("всеки месец", "every month"), ("всеки понеделник", "every Monday"),
    ("всеки вторник", "every Tuesday"), ("всяка сряда", "every Wednesday"), ("всеки четвъртък", "every Thursday"),
    ("всеки петък", "every Friday"), ("всяка събота", "every Saturday"), ("всяка неделя", "every Sunday"),
    ("сутрин", "in the morning"), ("вечер", "in the evening"), ("през уикенда", "at the weekend"),
)
_PAST_TIMES = (
    ("вчера", "yesterday"), ("снощи", "last night"), ("тази сутрин", "this morning"),
    ("миналата седмица", "last week"), ("миналия месец", "last month"), ("миналата година", "last year"),
    ("миналия уикенд", "last weekend"), ("преди два дни", "two days ago"), ("преди три дни", "three days ago"),
    ("в понеделник", "on Monday"), ("във вторник", "on Tuesday"), ("в сряда", "on Wednesday"),
    ("в четвъртък", "on Thursday"), ("в петък", "on Friday"), ("в събота", "on Saturday"), ("в неделя", "on Sunday"),
)
_FREQUENCY = (("често", "often"), ("понякога", "sometimes"), ("обикновено", "usually"), ("рядко", "rarely"),
              ("винаги", "always"))
_TODAY = (("днес", "today"), ("сега", "now"), ("тази вечер", "this evening"))
_NUMBERS = {2: ("", "two"), 3: ("три", "three"), 4: ("четири", "four"), 5: ("пет", "five"), 6: ("шест", "six"),
            7: ("седем", "seven"), 8: ("осем", "eight"), 9: ("девет", "nine"), 10: ("десет", "ten")}
# Where things can be, for "there is/are": (Bulgarian, English, sizes that fit there).
_LOCATIONS = tuple((bg, en, frozenset(sizes.split())) for bg, en, sizes in (
    ("в стаята", "in the room", "small medium pet"), ("в кухнята", "in the kitchen", "small pet"),
    ("в офиса", "in the office", "small medium"), ("в магазина", "in the shop", "small medium"),
    ("в хола", "in the living room", "small medium pet"), ("в гаража", "in the garage", "medium vehicle"),
    ("пред къщата", "in front of the house", "vehicle pet"), ("на улицата", "in the street", "vehicle pet"),
    ("на масата", "on the table", "small"), ("в кутията", "in the box", "small"), ("в чантата", "in the bag", "small"),
))
_BE_BG = {"present": ("съм", "си", "е", "сме", "сте", "са"), "past": ("бях", "беше", "беше", "бяхме", "бяхте", "бяха")}

Pair = tuple[str, str]  # (Bulgarian, English)


def _sentence(bg_words: list[str], en_words: list[str], mark: str) -> Row:
    bg = " ".join(w for w in bg_words if w)
    en = " ".join(w for w in en_words if w)
    return {"source": _cap(bg) + mark, "target": _cap(en) + mark}


def _translate_row(rng: random.Random) -> Row:
    template = rng.choices(_TEMPLATES, weights=_TEMPLATE_WEIGHTS)[0]
    return template(rng)


def _pick_subject(rng: random.Random, *, pronouns: bool = True, first_person: bool = True) -> _Subject:
    """A pronoun (30%), a pair of names (8%) or a noun or name subject."""
    r = rng.random()
    if pronouns and r < 0.3:
        return rng.choice([p for p in _PRONOUNS if first_person or not p.person.startswith("1")])
    if r < 0.38:
        (bg1, en1, _), (bg2, en2, _) = rng.sample(_NAMES, 2)
        return _Subject(f"{bg1} и {bg2}", f"{en1} and {en2}", "3pl", "pl")
    return rng.choice(_NOUN_SUBJECTS)


def _pick_verb_object(rng: random.Random, past: bool, countable: bool = False) -> tuple[_Verb, _Noun]:
    """A verb and a noun it makes sense with; habitual buying and selling only of small things."""
    while True:
        verb = rng.choice(_VERBS)
        nouns = [n for n in _NOUNS_FOR[verb.key] if not (countable and n.mass)]
        if not past and verb.key in ("buy", "sell"):
            nouns = [n for n in nouns if n.size == "small" or n.adj == "drink"]
        if nouns:
            return verb, rng.choice(nouns)


def _noun_phrase(noun: _Noun, adj: _Adj | None, definite: bool, plural: bool) -> Pair:
    """Bulgarian and English noun phrase; in Bulgarian the article goes on the adjective if any."""
    gender = "pl" if plural else noun.gender
    head_bg, head_en = (noun.pl, noun.en_pl) if plural else (noun.bg, noun.en)
    if adj is None:
        bg = noun.definite(plural) if definite else head_bg
        core = head_en
    else:
        bg = f"{adj.definite(gender) if definite else adj.form(gender)} {head_bg}"
        core = f"{adj.en} {head_en}"
    if definite:
        return bg, f"the {core}"
    if plural or noun.mass:
        return bg, core
    return bg, f"{_a(core)} {core}"


def _object_phrase(rng: random.Random, noun: _Noun) -> Pair:
    """A random object phrase: with an adjective or not, definite or not, singular or plural."""
    adj = rng.choice(_ADJ_CLASSES[noun.adj]) if rng.random() < 0.35 else None
    plural = not noun.mass and rng.random() < 0.3
    return _noun_phrase(noun, adj, rng.random() < 0.5, plural)


def _counted_phrase(rng: random.Random, noun: _Noun) -> Pair:
    """'три червени ябълки' / 'three red apples'; masculine nouns take the count form (два стола)."""
    k = rng.randint(2, 10)
    number_bg, number_en = _NUMBERS[k]
    if k == 2:
        number_bg = "два" if noun.gender == "m" else "две"
    adj = rng.choice(_ADJ_CLASSES[noun.adj]) if rng.random() < 0.4 else None
    bg = [number_bg, adj.pl if adj else "", noun.counted()]
    en = [number_en, adj.en if adj else "", noun.en_pl]
    return " ".join(w for w in bg if w), " ".join(w for w in en if w)


def _place(rng: random.Random, verb: _Verb, noun: _Noun) -> Pair:
    if verb.key in ("buy", "sell") and noun.size != "small" and noun.adj != "drink":
        return "", ""
    places = [(bg, en) for bg, en, verbs in _PLACES if verb.key in verbs]
    return rng.choice(places) if places else ("", "")


def _time(rng: random.Random, past: bool) -> Pair:
    return rng.choice(_PAST_TIMES if past else _PRESENT_TIMES)


def _en_aux(person: str, past: bool) -> str:
    if past:
        return "did"
    return "does" if person == "3sg" else "do"


def _en_base(verb: _Verb, past: bool) -> str:
    return verb.en_past_base if past else verb.en


def _en_be(person: str, past: bool) -> str:
    if past:
        return "was" if person in ("1sg", "3sg") else "were"
    return {"1sg": "am", "3sg": "is"}.get(person, "are")


# --- templates: each returns one {"source", "target"} row ------------------------------------


def _t_statement(rng: random.Random) -> Row:
    """Учителят чете книга в библиотеката всяка вечер. / Майка ми често пие кафе."""
    subject, past = _pick_subject(rng), rng.random() < 0.5
    verb, noun = _pick_verb_object(rng, past)
    obj = _object_phrase(rng, noun)
    place = _place(rng, verb, noun) if rng.random() < 0.6 else ("", "")
    adverb, time = ("", ""), _time(rng, past)
    if not past and rng.random() < 0.3:
        adverb, time = rng.choice(_FREQUENCY), ("", "")
    bg = [subject.bg, adverb[0], verb.bg(subject.person, past), obj[0], place[0], time[0]]
    en = [subject.en, adverb[1], verb.english(subject.person, past), obj[1], place[1], time[1]]
    return _sentence(bg, en, ".")


def _t_negative(rng: random.Random) -> Row:
    """Брат ми не пие кафе вечер. / My brother does not drink coffee in the evening."""
    subject, past = _pick_subject(rng), rng.random() < 0.5
    verb, noun = _pick_verb_object(rng, past)
    obj, time = _object_phrase(rng, noun), _time(rng, past)
    bg = [subject.bg, "не", verb.bg(subject.person, past), obj[0], time[0]]
    en = [subject.en, _en_aux(subject.person, past), "not", _en_base(verb, past), obj[1], time[1]]
    return _sentence(bg, en, ".")


def _t_yes_no(rng: random.Random) -> Row:
    """Прочете ли учителят писмото вчера? / Ти пиеш ли кафе сутрин?"""
    subject, past = _pick_subject(rng, first_person=False), rng.random() < 0.5
    verb, noun = _pick_verb_object(rng, past)
    obj = _object_phrase(rng, noun)
    time = _time(rng, past) if rng.random() < 0.7 else ("", "")
    verb_bg = verb.bg(subject.person, past)
    if subject.pronoun:
        bg = [subject.bg, verb_bg, "ли", obj[0], time[0]]
    else:
        bg = [verb_bg, "ли", subject.bg, obj[0], time[0]]
    en = [_en_aux(subject.person, past), subject.en, _en_base(verb, past), obj[1], time[1]]
    return _sentence(bg, en, "?")


def _t_wh(rng: random.Random) -> Row:
    """Къде купи Иван колата? / Where did Ivan buy the car?"""
    subject, past = _pick_subject(rng, pronouns=False), rng.random() < 0.5
    verb, noun = _pick_verb_object(rng, past)
    obj = _object_phrase(rng, noun)
    wh_bg, wh_en = rng.choice((("къде", "where"), ("кога", "when"), ("защо", "why")))
    time = _time(rng, past) if wh_bg != "кога" and rng.random() < 0.5 else ("", "")
    bg = [wh_bg, verb.bg(subject.person, past), subject.bg, obj[0], time[0]]
    en = [wh_en, _en_aux(subject.person, past), subject.en, _en_base(verb, past), obj[1], time[1]]
    return _sentence(bg, en, "?")


def _t_what(rng: random.Random) -> Row:
    """Какво купи майка ми вчера? / What did my mother buy yesterday?"""
    subject, past = _pick_subject(rng, pronouns=False), rng.random() < 0.5
    verb, time = rng.choice(_VERBS), _time(rng, past)
    bg = ["какво", verb.bg(subject.person, past), subject.bg, time[0]]
    en = ["what", _en_aux(subject.person, past), subject.en, _en_base(verb, past), time[1]]
    return _sentence(bg, en, "?")


def _t_who(rng: random.Random) -> Row:
    """Кой изми колата в събота? / Who washed the car on Saturday?"""
    past = rng.random() < 0.5
    verb, noun = _pick_verb_object(rng, past)
    obj, time = _object_phrase(rng, noun), _time(rng, past)
    bg = ["кой", verb.bg("3sg", past), obj[0], time[0]]
    en = ["who", verb.english("3sg", past), obj[1], time[1]]
    return _sentence(bg, en, "?")


def _t_how_many(rng: random.Random) -> Row:
    """Колко стола купи Иван? / How many chairs did Ivan buy?"""
    subject, past = _pick_subject(rng, pronouns=False), rng.random() < 0.5
    verb, noun = _pick_verb_object(rng, past, countable=True)
    time = _time(rng, past)
    bg = ["колко", noun.counted(), verb.bg(subject.person, past), subject.bg, time[0]]
    en = ["how many", noun.en_pl, _en_aux(subject.person, past), subject.en, _en_base(verb, past), time[1]]
    return _sentence(bg, en, "?")


def _t_count(rng: random.Random) -> Row:
    """Децата нарисуваха пет големи дървета в събота. / The children drew five big trees on Saturday."""
    subject, past = _pick_subject(rng), rng.random() < 0.5
    verb, noun = _pick_verb_object(rng, past, countable=True)
    obj, time = _counted_phrase(rng, noun), _time(rng, past)
    bg = [subject.bg, verb.bg(subject.person, past), obj[0], time[0]]
    en = [subject.en, verb.english(subject.person, past), obj[1], time[1]]
    return _sentence(bg, en, ".")


def _t_have(rng: random.Random) -> Row:
    """Брат ми има нова кола. / Тя няма чадър. (has / does not have)"""
    subject, noun = _pick_subject(rng), rng.choice(_OWNABLE)
    home = ("вкъщи", "at home") if noun.size in ("small", "pet") and rng.random() < 0.3 else ("", "")
    if rng.random() < 0.35:
        adj = rng.choice(_ADJ_CLASSES[noun.adj]) if rng.random() < 0.4 else None
        obj = _noun_phrase(noun, adj, False, False)
        bg = [subject.bg, _HAVE_NOT.bg(subject.person, False), obj[0], home[0]]
        en = [subject.en, _en_aux(subject.person, False), "not", "have", obj[1], home[1]]
        return _sentence(bg, en, ".")
    if rng.random() < 0.5:
        obj = _counted_phrase(rng, noun)
    else:
        obj = _noun_phrase(noun, rng.choice(_ADJ_CLASSES[noun.adj]), False, False)
    bg = [subject.bg, _HAVE.bg(subject.person, False), obj[0], home[0]]
    en = [subject.en, _HAVE.english(subject.person, False), obj[1], home[1]]
    return _sentence(bg, en, ".")


def _t_there(rng: random.Random) -> Row:
    """На масата има нова книга. / There is a new book on the table. (or: there are three ...)"""
    loc_bg, loc_en, sizes = rng.choice(_LOCATIONS)
    noun = rng.choice([n for n in _NOUNS if n.size in sizes and n.bg not in loc_bg])
    plural = not noun.mass and rng.random() < 0.5
    if plural:
        obj = _counted_phrase(rng, noun)
    else:
        adj = rng.choice(_ADJ_CLASSES[noun.adj]) if rng.random() < 0.5 else None
        obj = _noun_phrase(noun, adj, False, False)
    bg = [loc_bg, "има", obj[0]]
    en = ["there", "are" if plural else "is", obj[1], loc_en]
    return _sentence(bg, en, ".")


def _t_state(rng: random.Random) -> Row:
    """Аз съм много уморена днес. / Те не бяха гладни вчера."""
    subject = _pick_subject(rng)
    gender = subject.gender or rng.choice("mf")
    m, f, _, pl, adj_en = rng.choice(_PERSON_ADJS)
    past, negative = rng.random() < 0.4, rng.random() < 0.3
    very = not negative and rng.random() < 0.5
    time = rng.choice(_PAST_TIMES[:7] if past else _TODAY)
    be_bg = _BE_BG["past" if past else "present"][_PERSONS.index(subject.person)]
    adj_bg = {"m": m, "f": f, "pl": pl}[gender]
    bg = [subject.bg, "не" if negative else "", be_bg, "много" if very else "", adj_bg, time[0]]
    en = [subject.en, _en_be(subject.person, past), "not" if negative else "", "very" if very else "", adj_en, time[1]]
    return _sentence(bg, en, ".")


def _t_owner(rng: random.Random) -> Row:
    """Колата на Мария е много стара. / Maria's car is very old."""
    name_bg, name_en, _ = rng.choice(_NAMES)
    noun = rng.choice([n for n in _NOUNS if n.adj not in ("place", "show")])
    adj = rng.choice(_ADJ_CLASSES[noun.adj])
    plural, negative = not noun.mass and rng.random() < 0.3, rng.random() < 0.25
    very = not negative and rng.random() < 0.4
    bg = [noun.definite(plural, subject=True), "на", name_bg, "не" if negative else "", "са" if plural else "е",
          "много" if very else "", adj.form("pl" if plural else noun.gender)]
    en = [f"{name_en}'s", noun.en_pl if plural else noun.en, "are" if plural else "is",
          "not" if negative else "", "very" if very else "", adj.en]
    return _sentence(bg, en, ".")


def _t_compound(rng: random.Random) -> Row:
    """Вчера Иван изми колата, а Мария почисти кухнята. / Yesterday, Ivan washed the car, and Maria ..."""
    past = rng.random() < 0.5
    time_bg, time_en = _time(rng, past)
    bg, en = [time_bg], [_cap(time_en) + ","]
    for i, subject in enumerate(_two_subjects(rng)):
        verb, noun = _pick_verb_object(rng, past)
        obj = _object_phrase(rng, noun)
        bg += [subject.bg, verb.bg(subject.person, past), obj[0] + ("," if i == 0 else "")]
        en += [subject.en, verb.english(subject.person, past), obj[1] + ("," if i == 0 else "")]
        if i == 0:
            bg.append("а")
            en.append("and")
    return _sentence(bg, en, ".")


def _two_subjects(rng: random.Random) -> tuple[_Subject, _Subject]:
    while True:
        first, second = _pick_subject(rng), _pick_subject(rng)
        shared = set(first.en.lower().split()) & set(second.en.lower().split()) - {"the", "my", "and"}
        if not shared and first.en != second.en:
            return first, second


_TEMPLATES: tuple[Callable[[random.Random], Row], ...] = (
    _t_statement, _t_negative, _t_yes_no, _t_wh, _t_what, _t_who, _t_how_many, _t_count, _t_have,
    _t_there, _t_state, _t_owner, _t_compound,
)
_TEMPLATE_WEIGHTS = (4, 2, 2, 2, 1, 1, 1, 2, 2, 2, 2, 2, 2)

# task -> (row maker, the field holding the input text that must be unique and split-exclusive)
_GENERATORS: dict[str, tuple[Callable[[random.Random], Row], str]] = {
    "summarize": (_summarize_row, "article"),
    "qa": (_qa_row, "context"),
    "translate": (_translate_row, "source"),
}
