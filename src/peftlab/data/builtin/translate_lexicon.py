"""The Bulgarian-English lexicon of the translate generator: subjects, verbs with present and
aorist conjugation, nouns with gender, plural, definite and count forms, agreeing adjectives,
places, times and numbers."""

from __future__ import annotations

from dataclasses import dataclass


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
