"""Local-news story kinds for summarize: council, weather, transport, environment, education."""

from __future__ import annotations

import random

from . import Facts
from .english import (
    _MONTHS, _RIVERS, _SURNAMES, _TOWNS, _WEEKDAYS, _cap, _count, _date, _money, _people, _towns,
)
from .news import _Story


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
