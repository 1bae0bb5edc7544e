"""Story kinds for summarize: sports, business, science, health and culture."""

from __future__ import annotations

import random

from . import Facts
from .english import (
    _MONTHS, _ORDINALS, _SAINTS, _SURNAMES, _TOWNS, _WEEKDAYS, _count, _money, _num, _people, _towns,
)
from .news import _Story


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
