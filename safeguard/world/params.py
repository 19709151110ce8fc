"""World parameters: the knobs of the synthetic world's mix and mechanics, and the robustness presets.

The default :class:`WorldParams` is the demo world, exactly (same seed, same bytes as before these knobs
existed): every knob at its default leaves the generator's draws untouched. A robustness world changes the mix
and the mechanics a detector was never tuned on (issue 14): the abuser share, how often and how late abuse is
caught, ring sizes, request volumes, and benign lookalikes a detector must not flag:

- travellers: benign accounts that use the API from another country and network for a spell of days;
- classes and hackathons: bursts of benign accounts created together from one signup IP and org, sharing a small
  pool of prompt templates (created-together and shared-template signals, as rings have);
- security researchers and batch jobs, at a share of their own.

and two abuse patterns that are robustness-only archetypes (their share in the default world is zero):

- ``behaviour_change``: an old account with a long benign habit, same network, client and keys, that from
  ``abuse_start`` sends a large share of harmful requests whose classifier scores sit just under 0.5, with
  refusals on sensitive categories;
- ``evasive_abuse``: a young abuser whose flagged requests score just under 0.5 (prompts tuned to the
  classifier), with fresh prompts every time.

Besides, a share of all other abusers (``evasive_share``) gets the same evasive twist on its abusive content.
Old-account takeover (``account_takeover``: accounts 60 days to 3 years old, new network, country, client and
key at ``abuse_start``) exists in every world.

A preset is a named :class:`WorldParams`; ``--world-params`` takes the same fields as JSON.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

# Flagged scores of evasive content are mapped into [EVASIVE_LOW, EVASIVE_HIGH): just under the 0.5 threshold.
EVASIVE_LOW, EVASIVE_HIGH = 0.30, 0.4999


class WorldParamsError(ValueError):
    """World parameters that cannot describe a world (the message names the field)."""


@dataclass(frozen=True)
class WorldParams:
    """Knobs of one world; the defaults are the demo world."""

    name: str = "default"
    # Overall share of abusive accounts (None: the profiles' own mix, about 4.5%). The abuse archetypes keep their
    # relative weights (after ``share_factors``); benign populations share the rest.
    abuser_share: float | None = None
    # Multipliers on a profile's share of accounts, by archetype name (e.g. security_researcher, batch_api,
    # behaviour_change). An archetype with no share of its own (behaviour_change, evasive_abuse) gets
    # ``new_archetype_share`` of all accounts times its factor.
    share_factors: dict[str, float] = field(default_factory=dict)
    new_archetype_share: float = 0.0
    # Enforcement: factor on every abuse archetype's chance of being caught (capped at 0.98), and the range of
    # days from abuse start to detection (log-uniform).
    catch_rate_factor: float = 1.0
    detection_delay_days: tuple[float, float] = (3.0, 30.0)
    ring_size: tuple[int, int] = (4, 25)
    volume_factor: float = 1.0  # factor on every account's request rate
    evasive_share: float = 0.0  # share of the other abusers whose abusive flagged content scores just under 0.5
    traveller_share: float = 0.0  # share of benign accounts that travel for a spell inside the window
    travel_days: tuple[int, int] = (3, 14)
    class_share: float = 0.0  # share of accounts that signed up in a class or hackathon cohort
    class_size: tuple[int, int] = (10, 60)

    def __post_init__(self) -> None:
        object.__setattr__(self, "detection_delay_days", tuple(float(x) for x in self.detection_delay_days))
        for name in ("ring_size", "travel_days", "class_size"):
            object.__setattr__(self, name, tuple(int(x) for x in getattr(self, name)))
        object.__setattr__(self, "share_factors", dict(self.share_factors))
        self.validate()

    def validate(self) -> None:
        from safeguard.world.populations import ARCHETYPES

        def fail(msg: str) -> None:
            raise WorldParamsError(f"world parameters {self.name!r}: {msg}")

        if self.abuser_share is not None and not 0.0 < self.abuser_share < 0.5:
            fail(f"abuser_share must be in (0, 0.5), got {self.abuser_share}")
        unknown = set(self.share_factors) - set(ARCHETYPES)
        if unknown:
            fail(f"share_factors names unknown archetype(s) {sorted(unknown)}; known: {list(ARCHETYPES)}")
        if any(v < 0 for v in self.share_factors.values()):
            fail("share_factors must be 0 or more")
        for name in ("new_archetype_share", "evasive_share", "traveller_share", "class_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                fail(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.catch_rate_factor < 0 or self.volume_factor <= 0:
            fail("catch_rate_factor must be 0 or more and volume_factor above 0")
        for name in ("detection_delay_days", "ring_size", "travel_days", "class_size"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                fail(f"{name} must be a range 0 < low <= high, got {(lo, hi)}")

    @property
    def is_default(self) -> bool:
        """Whether these are the demo world's mechanics (the name does not count)."""
        mine, default = asdict(self), asdict(WorldParams())
        mine.pop("name"), default.pop("name")
        return mine == default

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> WorldParams:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise WorldParamsError(f"unknown world parameter(s) {sorted(unknown)}; known: {sorted(known)}")
        return cls(**d)

    @classmethod
    def from_json(cls, text_or_path: str) -> WorldParams:
        """From a JSON object, or the path of a file holding one; fields not given keep their defaults."""
        text = text_or_path
        if not text_or_path.lstrip().startswith("{"):
            path = Path(text_or_path)
            if not path.exists():
                raise WorldParamsError(f"--world-params {text_or_path!r} is neither a JSON object nor a file")
            text = path.read_text()
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise WorldParamsError(f"world parameters are not valid JSON: {e}") from None
        if not isinstance(d, dict):
            raise WorldParamsError("world parameters must be a JSON object")
        return cls.from_dict(d)


DEFAULT = WorldParams()

# Robustness presets: three worlds far from the demo one in different directions. They are for evaluation only;
# nothing in the features or the model may be tuned on them.
PRESETS: dict[str, WorldParams] = {
    "default": DEFAULT,
    # few abusers, caught late and rarely; small rings; quiet traffic; many researchers, some travellers and classes
    "robust-a": WorldParams(
        name="robust-a",
        abuser_share=0.025,
        share_factors={"security_researcher": 2.5, "batch_api": 0.8},
        new_archetype_share=0.004,
        catch_rate_factor=0.6,
        detection_delay_days=(7.0, 40.0),
        ring_size=(2, 6),
        volume_factor=0.6,
        evasive_share=0.3,
        traveller_share=0.05,
        class_share=0.02,
        class_size=(10, 40),
    ),
    # many abusers, caught fast; big rings; heavy traffic; many batch jobs and hackathons
    "robust-b": WorldParams(
        name="robust-b",
        abuser_share=0.075,
        share_factors={"security_researcher": 1.0, "batch_api": 1.8, "behaviour_change": 1.5},
        new_archetype_share=0.006,
        catch_rate_factor=1.3,
        detection_delay_days=(2.0, 15.0),
        ring_size=(15, 60),
        volume_factor=1.8,
        evasive_share=0.2,
        traveller_share=0.08,
        class_share=0.04,
        class_size=(20, 80),
    ),
    # middle share, evasion-heavy, many travellers; researchers rare, classes small and frequent
    "robust-c": WorldParams(
        name="robust-c",
        abuser_share=0.045,
        share_factors={"security_researcher": 0.5, "batch_api": 1.2, "account_takeover": 2.0, "evasive_abuse": 1.5},
        new_archetype_share=0.005,
        catch_rate_factor=0.9,
        detection_delay_days=(3.0, 30.0),
        ring_size=(4, 12),
        volume_factor=1.0,
        evasive_share=0.5,
        traveller_share=0.15,
        class_share=0.06,
        class_size=(8, 30),
    ),
}
ROBUSTNESS_PRESETS = ("robust-a", "robust-b", "robust-c")


def preset(name: str) -> WorldParams:
    try:
        return PRESETS[name]
    except KeyError:
        raise WorldParamsError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}") from None


__all__ = [
    "DEFAULT",
    "EVASIVE_HIGH",
    "EVASIVE_LOW",
    "PRESETS",
    "ROBUSTNESS_PRESETS",
    "WorldParams",
    "WorldParamsError",
    "preset",
]
