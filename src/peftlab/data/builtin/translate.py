"""translate: Bulgarian (Cyrillic) -> English sentences built compositionally from the lexicon.

A dozen templates (present and past statements, negations, yes/no and wh-questions, counting,
possession, existence, predicates) build the Bulgarian sentence and its English translation in
parallel from the same choices.
"""

from __future__ import annotations

import random
from typing import Callable

from . import Row
from .english import _a, _cap
from .translate_lexicon import (
    _ADJ_CLASSES, _Adj, _BE_BG, _FREQUENCY, _HAVE, _HAVE_NOT, _LOCATIONS, _NAMES, _NOUNS, _NOUNS_FOR,
    _NOUN_SUBJECTS, _NUMBERS, _Noun, _OWNABLE, _PAST_TIMES, _PERSONS, _PERSON_ADJS, _PLACES,
    _PRESENT_TIMES, _PRONOUNS, _Subject, _TODAY, _VERBS, _Verb,
)


Pair = tuple[str, str]  # (Bulgarian, English)


def _sentence(bg_words: list[str], en_words: list[str], mark: str) -> Row:
    bg = " ".join(w for w in bg_words if w)
    en = " ".join(w for w in en_words if w)
    return {"source": _cap(bg) + mark, "target": _cap(en) + mark}


def translate_row(rng: random.Random) -> Row:
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
