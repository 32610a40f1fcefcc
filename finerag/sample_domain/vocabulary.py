"""Word pools the invented company is drawn from.

Every value a question asks about is picked from these pools (or made of random numbers) by a
seeded RNG, so no pretrained model can know it: it has to be read from the knowledge base.
All text is ASCII because the PDF writer uses a standard font with no embedded glyphs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# Syllables for invented brand, product, town and surname words ("Velmora", "Quistral").
ONSETS = ("b", "br", "c", "d", "dr", "f", "g", "gr", "h", "k", "l", "m", "n", "p", "qu", "r")
ONSETS_MORE = ("s", "st", "t", "tr", "v", "z", "th", "sk")
VOWELS = ("a", "e", "i", "o", "u", "ae", "ia", "ou")
CODAS = ("", "", "", "l", "n", "r", "s", "th", "x", "m")


def invent_word(rng: random.Random, taken: list[str], syllables: tuple[int, int] = (2, 3)) -> str:
    """A capitalised pronounceable word not in `taken` (which it is appended to)."""
    while True:
        parts = [
            rng.choice(ONSETS + ONSETS_MORE) + rng.choice(VOWELS) + rng.choice(CODAS)
            for _ in range(rng.randint(*syllables))
        ]
        word = "".join(parts).capitalize()
        if 5 <= len(word) <= 10 and word not in taken:
            taken.append(word)
            return word


@dataclass(frozen=True)
class Category:
    """A product family: its nouns, its category-specific spec and its error-code letter."""

    slug: str  # folder-friendly name, also used for document file names
    noun: str  # "air purifier"
    plural: str  # "air purifiers"
    spec_label: str  # the label of the one spec only this family has
    spec_kind: str  # the fact kind of that spec (see wording.yaml)
    error_prefix: str  # error codes of this family start with it


CATEGORIES = (
    Category("air-purifiers", "air purifier", "air purifiers", "Coverage area", "coverage", "A"),
    Category("water-filters", "water filter", "water filters", "Filter capacity", "capacity", "W"),
    Category("thermostats", "smart thermostat", "smart thermostats", "Heating zones", "zones", "T"),
    Category(
        "dehumidifiers", "dehumidifier", "dehumidifiers", "Daily extraction", "extraction", "D"
    ),
)

COLOURS = (
    "Fjord Blue",
    "Ash White",
    "Moss Green",
    "Slate Grey",
    "Copper",
    "Sand",
    "Graphite",
    "Coral",
    "Ivory",
    "Midnight",
    "Sage",
    "Clay",
    "Pewter",
    "Ochre",
    "Teal",
    "Plum",
    "Birch",
    "Storm",
    "Saffron",
    "Juniper",
)

FIRST_NAMES = (
    "Ines",
    "Marek",
    "Tova",
    "Anselm",
    "Rhea",
    "Oskar",
    "Liesl",
    "Dario",
    "Freya",
    "Cosmin",
    "Yara",
    "Bennet",
    "Ilse",
    "Tobias",
    "Noor",
    "Emeric",
)

PLAN_TIERS = ("Lite", "Standard", "Plus", "Premier")

STREETS = ("Lane", "Street", "Row", "Quay", "Avenue", "Yard", "Walk")

# What an error means, per family (five are drawn for each family's troubleshooting page).
ERROR_MEANINGS = {
    "air-purifiers": (
        "Blocked intake grille",
        "Particle sensor not calibrated",
        "Fan motor stalled",
        "Filter door open",
        "Ioniser plate worn",
        "Humidity probe unplugged",
        "Airflow below 40 percent",
    ),
    "water-filters": (
        "Cartridge seal leaking",
        "Inlet pressure too low",
        "Flow meter stuck",
        "UV lamp failed",
        "Drain valve jammed",
        "Cartridge past its capacity",
        "Tap sensor disconnected",
    ),
    "thermostats": (
        "Boiler relay not responding",
        "Room sensor out of range",
        "Backup cell depleted",
        "Zone valve wired backwards",
        "Wi-Fi module rebooting",
        "Schedule memory corrupted",
        "Floor probe reading open circuit",
    ),
    "dehumidifiers": (
        "Water tank full",
        "Coil iced over",
        "Compressor overheated",
        "Float switch stuck",
        "Hose outlet blocked",
        "Defrost sensor faulty",
        "Louvre motor jammed",
    ),
}

# Fixes: an action and a follow-up, combined with drawn numbers into short phrases.
FIX_ACTIONS = (
    "Rinse the pre-filter",
    "Reseat the cartridge",
    "Reset the valve",
    "Clear the intake grille",
    "Reconnect the sensor lead",
    "Replace the backup cell",
    "Empty the tank",
    "Swap the red and blue wires",
    "Hold the Mode key for {n} seconds",
    "Open the service hatch",
    "Turn the dial to position {n}",
    "Unplug the unit for {n} minutes",
    "Tighten the inlet nut",
    "Straighten the drain hose",
)
FIX_THENS = (
    "then power-cycle",
    "then press Reset twice",
    "then wait {n} minutes",
    "then run a self-test",
    "then re-pair the app",
    "then restart the unit",
)

# Procedures: each manual holds two; every step has drawn numbers so steps cannot be guessed.
PROCEDURES = {
    "installation": (
        (
            "mounting the thermostat wall plate",
            (
                "Switch off the heating circuit at breaker {n}",
                "Mark {n} drill holes with the paper template",
                "Drill the holes {n} mm deep",
                "Screw the wall plate on with the {n} mm screws",
                "Clip the thermostat onto the plate until it clicks",
            ),
        ),
        (
            "installing a water filter under the sink",
            (
                "Close the cold water stop valve",
                "Cut the supply pipe {n} cm above the valve",
                "Fit the inlet adapter with {n} turns of thread tape",
                "Hang the filter head on the bracket at least {n} cm above the floor",
                "Open the valve and flush for {n} minutes",
            ),
        ),
    ),
    "maintenance": (
        (
            "descaling a dehumidifier coil",
            (
                "Unplug the dehumidifier and wait {n} minutes",
                "Remove the {n} screws of the rear panel",
                "Spray the coil with descaler diluted 1 to {n}",
                "Let the descaler act for {n} minutes",
                "Rinse the coil with {n} ml of clean water",
            ),
        ),
        (
            "cleaning an air purifier fan",
            (
                "Switch the purifier off and lift the top grille",
                "Release the {n} fan clips",
                "Brush each blade {n} times from hub to tip",
                "Wipe the housing {n} times with a dry cloth",
                "Refit the fan and run it on speed {n} for one minute",
            ),
        ),
    ),
    "app-setup": (
        (
            "pairing a device with the mobile app",
            (
                "Hold the Pair button for {n} seconds",
                "Wait until the ring blinks {n} times",
                "Open the app and tap Add Device",
                "Enter the {n}-digit code from the device label",
                "Name the room and tap Save within {n} seconds",
            ),
        ),
        (
            "sharing a device with a household member",
            (
                "Open Settings and choose Household",
                "Tap Invite and enter their e-mail address",
                "Pick access level {n}",
                "Ask them to accept within {n} hours",
                "Confirm the invite with your {n}-digit PIN",
            ),
        ),
    ),
    "filter-replacement": (
        (
            "replacing an air purifier filter",
            (
                "Turn the purifier off and wait {n} seconds",
                "Press the two side latches and lift the cover",
                "Pull the old filter out by its tab",
                "Unwrap the new filter and insert it arrow side up",
                "Hold Filter Reset for {n} seconds",
            ),
        ),
        (
            "replacing a water filter cartridge",
            (
                "Close the stop valve and open the tap for {n} seconds",
                "Turn the old cartridge a quarter turn left",
                "Soak the new cartridge seal for {n} minutes",
                "Twist the new cartridge in until the mark reaches notch {n}",
                "Run {n} litres of water before drinking",
            ),
        ),
    ),
}

# Attributes the knowledge base never states, for questions it cannot answer.
UNDOCUMENTED_PRODUCT_ATTRIBUTES = (
    "battery",
    "noise",
    "power",
    "energy_rating",
    "cable",
    "smartwatch",
    "temperature",
)
