"""Every change this project makes to Rasa's internals, each guarded by what it was written for.

Each module here replaces one or two functions of Rasa 3.6 and says why, with the measured
gain. ``install()`` is the only way they take effect: it checks the installed Rasa against
``RASA_VERSION`` and the source of every function to be replaced against the hash it was
written for, and refuses (``PatchRefused``, naming the patch) before changing anything when
either differs. The servers call it once at start (``bot.server.rasa_run``); training,
evaluation and scripts run stock Rasa.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["RASA_VERSION", "Patch", "PatchRefused", "all_patches", "install", "installed", "source_hash", "uninstall"]

RASA_VERSION = "3.6.21"
MODULES = (
    "action_calls", "events", "nlu_threads", "dialogue_states", "tracker_replays", "policy_tails", "tracker_store_errors",
    "socketio",
)


class PatchRefused(RuntimeError):
    """The installed Rasa is not the one a patch was written for; the message names the patch."""


@dataclass(frozen=True)
class Patch:
    """One replaced attribute: where it is, the hash of the source it replaces, and its replacement.

    ``target`` is ``"module:Class.attribute"``; ``build`` is given Rasa's original function and
    returns the function to put in its place. ``reads`` names other Rasa functions, with their
    hashes, whose behaviour the replacement relies on without replacing them: a change to any of
    them refuses the patch too.
    """

    name: str
    target: str
    sha256: str
    build: Callable[[Callable[..., Any]], Callable[..., Any]]
    reads: tuple[tuple[str, str], ...] = ()


@dataclass
class _Resolved:
    patch: Patch
    owner: Any
    attribute: str
    original: Any  # as stored on the owner (a staticmethod stays one)
    function: Callable[..., Any]
    inherited: bool = False  # found on a base class: uninstalling removes the owner's own attribute


_installed: dict[str, _Resolved] = {}


def source_hash(function: Callable[..., Any]) -> str:
    """The first 16 hex digits of the SHA-256 of a function's source."""
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]


def all_patches() -> list[Patch]:
    patches: list[Patch] = []
    for name in MODULES:
        patches.extend(importlib.import_module(f"{__name__}.{name}").PATCHES)
    return patches


def _resolve(patch: Patch, target: str | None = None) -> _Resolved:
    module_name, path = (target or patch.target).split(":")
    *owners, attribute = path.split(".")
    owner: Any = importlib.import_module(module_name)
    for part in owners:
        owner = getattr(owner, part)
    original = inspect.getattr_static(owner, attribute)
    function = original.__func__ if isinstance(original, staticmethod | classmethod) else original
    return _Resolved(patch, owner, attribute, original, function, attribute not in vars(owner))


def _check_version() -> None:
    import rasa

    if rasa.__version__ != RASA_VERSION:
        raise PatchRefused(
            f"the Rasa patches in bot/rasa_patches/ were written for Rasa {RASA_VERSION}, and this is "
            f"Rasa {rasa.__version__}: read each patch against the new Rasa, then update RASA_VERSION "
            "and the patch's hash (requirements-rasa.txt pins the version they were written for)"
        )


def install(names: Iterable[str] | None = None) -> list[str]:
    """Check every patch asked for (all by default), then put them in place; returns their names.

    Nothing is changed unless every check passes. Installing an installed patch does nothing.
    """
    _check_version()
    wanted = set(names) if names is not None else None
    resolved = []
    for patch in all_patches():
        if (wanted is not None and patch.name not in wanted) or patch.name in _installed:
            continue
        found = _resolve(patch)
        for target, expected in ((patch.target, patch.sha256), *patch.reads):
            digest = source_hash(_resolve(patch, target).function)
            if digest != expected:
                raise PatchRefused(
                    f"Rasa patch {patch.name!r} refused: {target} is not the code it was written for "
                    f"(source hash {digest}, expected {expected}); read bot/rasa_patches/ against this "
                    "Rasa before updating the hash"
                )
        resolved.append(found)
    for found in resolved:
        replacement = found.patch.build(found.function)
        if isinstance(found.original, staticmethod):
            replacement = staticmethod(replacement)
        elif isinstance(found.original, classmethod):
            replacement = classmethod(replacement)
        setattr(found.owner, found.attribute, replacement)
        _installed[found.patch.name] = found
    return [found.patch.name for found in resolved]


def installed() -> list[str]:
    return list(_installed)


def uninstall(names: Iterable[str] | None = None) -> None:
    """Rasa's own functions again (for tests)."""
    for name in list(names if names is not None else _installed):
        found = _installed.pop(name, None)
        if found is not None and found.inherited:
            delattr(found.owner, found.attribute)
        elif found is not None:
            setattr(found.owner, found.attribute, found.original)
