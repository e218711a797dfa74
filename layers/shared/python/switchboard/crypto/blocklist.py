"""Common passwords that satisfy our length policy, generated from the patterns people actually use."""

from __future__ import annotations

from functools import cache
from itertools import product

# Seeds of the most-used password families (words, names, keyboard rows); each family is expanded below the way
# people stretch a short favourite to pass a length rule: repeat it, append digit runs, years and punctuation.
_WORDS = [
    "password",
    "passw0rd",
    "p@ssword",
    "letmein",
    "welcome",
    "iloveyou",
    "admin",
    "administrator",
    "monkey",
    "dragon",
    "football",
    "baseball",
    "basketball",
    "soccer",
    "hockey",
    "sunshine",
    "princess",
    "master",
    "shadow",
    "superman",
    "batman",
    "trustno1",
    "whatever",
    "qwerty",
    "abc123",
    "login",
    "starwars",
    "freedom",
    "secret",
    "summer",
    "winter",
    "spring",
    "autumn",
    "flower",
    "chocolate",
    "computer",
    "internet",
    "michael",
    "jennifer",
    "jordan",
    "hunter",
    "ranger",
    "thomas",
    "charlie",
    "daniel",
    "andrew",
    "joshua",
    "matthew",
    "jessica",
    "ashley",
    "pokemon",
    "minecraft",
    "fortnite",
    "naruto",
    "liverpool",
    "chelsea",
    "arsenal",
    "barcelona",
    "realmadrid",
    "yankees",
    "cowboys",
    "changeme",
    "default",
    "temppassword",
    "mypassword",
    "newpassword",
    "passphrase",
    "switchboard",
    "whatsapp",
    "hello",
    "friend",
    "family",
    "lovely",
    "angel",
    "heaven",
    "cookie",
    "banana",
    "orange",
    "purple",
    "silver",
    "golden",
    "killer",
]
_RUNS = ("123", "1234", "12345", "123456", "1234567", "12345678", "123456789", "1234567890", "0987654321")
_YEARS = tuple(str(year) for year in range(1990, 2031))
_TAILS = ("", "!", "!!", "!!!", "?", "#", "@", "1", "01", "123!")
_WALKS = (
    "qwertyuiopasdfghjklzxcvbnm",
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
    "1qaz2wsx3edc4rfv5tgb",
    "qazwsxedcrfvtgbyhn",
    "abcdefghijklmnopqrstuvwxyz",
    "1234567890",
    "0123456789",
    "9876543210",
)

MIN_LENGTH = 15


def _variants(word: str) -> set[str]:
    found = {word, word.capitalize(), word.upper()}
    found |= {word * n for n in (2, 3, 4)}
    found |= {word.capitalize() * n for n in (2, 3)}
    found |= {w + run + tail for w, run, tail in product((word, word.capitalize()), _RUNS, _TAILS)}
    found |= {w + year + tail for w, year, tail in product((word, word.capitalize()), _YEARS, ("", "!", "!!!"))}
    return found


@cache
def common_passwords() -> frozenset[str]:
    """Every generated common password of at least MIN_LENGTH characters, lower-cased for comparison."""
    found: set[str] = set()
    for word in _WORDS:
        found |= _variants(word)
    for walk in _WALKS:
        found |= {walk, walk * 2, walk + walk[::-1], walk.upper()}
    found |= {digit * length for digit in "0123456789" for length in range(MIN_LENGTH, 33)}
    found |= {char * length for char in "abcxyz" for length in range(MIN_LENGTH, 33)}
    return frozenset(p.casefold() for p in found if len(p) >= MIN_LENGTH)
