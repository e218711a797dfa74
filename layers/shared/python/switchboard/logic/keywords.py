"""Inbound keywords (STOP / START / HELP): a normalised reading of the body, opting out whenever in doubt."""

from __future__ import annotations

import unicodedata

# Twilio's and CTIA's defaults (STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, OPTOUT, REVOKE), the ones AWS End User
# Messaging requires (OPT-OUT, REMOVE, ARRET, TD) and the common short form UNSUB, case-folded.
STOP_KEYS = frozenset(
    {"stop", "stopall", "unsubscribe", "unsub", "cancel", "end", "quit", "optout", "revoke", "remove", "arret", "td"}
)
START_KEYS = frozenset({"start", "unstop", "yes"})
HELP_KEYS = frozenset({"help"})
# Words people put before a keyword ("please stop", "ok STOP") that do not change what they ask.
FILLERS = frozenset({"please", "pls", "plz", "kindly", "ok", "okay", "hey", "hi"})
# Opt-out requests in words whose first word is no keyword (TCPA: any reasonable means revokes consent).
_VERBS = ("text", "message", "msg", "sms", "contact", "call")
OPT_OUT_PHRASES: tuple[str, ...] = (
    "opt me out",
    "take me off",
    "leave me alone",
    "no more messages",
    "no more texts",
    "no more sms",
    *(f"{neg} {verb} me" for neg in ("dont", "do not", "never") for verb in _VERBS),
)
# Invisible letters (Hangul fillers, Khmer inherent vowels) that NFKC keeps and a phone shows as nothing.
_INVISIBLE = frozenset("\u115f\u1160\u3164\uffa0\u17b4\u17b5")
# Apostrophes join ("don't" is one word, "dont"); any other punctuation or symbol separates words.
_APOSTROPHES = frozenset("'\u2018\u2019\u02bc\u02b9\u0060\u00b4\u2032")
# Cyrillic and Greek capitals and small letters drawn exactly like the Latin ones of the keywords.
_HOMOGLYPHS = str.maketrans(
    "АВЕКМНОРСТХЅІЈаеорсхѕіјΑΒΕΗΙΚΜΝΟΡΤΥΧοτ",
    "ABEKMHOPCTXSIJaeopcxsijABEHIKMNOPTYXot",
)


def _words(body: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", body).translate(_HOMOGLYPHS)
    kept: list[str] = []
    for char in folded:
        category = unicodedata.category(char)
        if char in _APOSTROPHES or char in _INVISIBLE or category in ("Cf", "Mn", "Me", "Cn", "Co", "Cs"):
            continue
        kept.append(char if category[0] in "LN" else " ")
    return "".join(kept).casefold().split()


def _spelled_runs(words: list[str]) -> list[str]:
    """Each run of two or more one-letter words joined into one word (`s t o p` -> `stop`)."""
    joined: list[str] = []
    run: list[str] = []
    for word in [*words, ""]:
        if len(word) == 1 and word.isalpha():
            run.append(word)
            continue
        joined.extend(["".join(run)] if len(run) > 1 else run)
        run = []
        if word:
            joined.append(word)
    return joined


def normalise(body: str) -> list[str]:
    """The body's words: compatibility-folded (NFKD: fullwidth, styled and accented letters become plain ones),
    invisible and format characters dropped, punctuation and symbols (emoji too) as spaces, case-folded, and
    letters spelt out one by one (`S T O P`, `S.T.O.P`) joined into one word."""
    return _spelled_runs(_words(body))


def _opts_out(words: list[str]) -> bool:
    if not words:
        return False
    if words[0] in STOP_KEYS or "".join(words[:2]) in STOP_KEYS:  # "opt out", "stop all", "un subscribe"
        return True
    text = " ".join(words)
    return any(text == phrase or text.startswith(phrase + " ") for phrase in OPT_OUT_PHRASES)


def classify(body: str) -> str | None:
    """`stop`, `start`, `help` or None.

    stop: the first word (after fillers like "please") is an opt-out keyword, or the first two written as one
    ("opt out", "stop all"), or the message starts with an opt-out phrase ("opt me out", "do not text me"), or it
    starts with letters spelt out one by one that begin with an opt-out keyword (`S T O P I T`).
    start and help: the whole message is that one keyword. An opt-out wins over everything else.
    """
    raw = _words(body)
    while raw and raw[0] in FILLERS:
        raw = raw[1:]
    words = _spelled_runs(raw)
    spelled = ""
    for word in raw:
        if len(word) != 1 or not word.isalpha():
            break
        spelled += word
    if _opts_out(words) or (len(spelled) > 1 and spelled.startswith(tuple(STOP_KEYS))):
        return "stop"
    if len(words) == 1 and words[0] in START_KEYS:
        return "start"
    if len(words) == 1 and words[0] in HELP_KEYS:
        return "help"
    return None
