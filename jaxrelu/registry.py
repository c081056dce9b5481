"""Name → entry tables: every activation, loss, task, optimiser, dynamics and observable.

Each kind of extension has one :class:`Registry`.  A built-in is one entry, registered
by the module that defines it (``jaxrelu.activations``, ``jaxrelu.losses``,
``jaxrelu.tasks``, ``jaxrelu.optimizers``, ``jaxrelu.dynamics``,
``jaxrelu.observables``), which the registry imports the first time a name is looked
up.  A user registers their own entries with the same public calls (e.g.
:func:`jaxrelu.activations.register`) and then names them in a TOML study; modules
that register are imported by ``jaxrelu run --plugin FILE_OR_MODULE`` or by
``run.plugins = [...]`` in the study (:func:`load_plugins`).  A *family* of entries with
numeric parameters is one factory (:meth:`Registry.register_family`), named with its
arguments, e.g. ``"leaky_relu(0.1)"`` or ``"hermite(0, 0, 1)"``.

Entries are frozen dataclasses holding the functions themselves, and the engine's
static program holds entries, not names: a changed registration is a different
program, compiled afresh.  This module imports no JAX (a config can be checked
without it), though looking a name up imports the built-ins, which do.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Generic, TypeVar

from jaxrelu.config import ConfigError

E = TypeVar("E")


class Registry(Generic[E]):
    """A table of named entries of one kind, with did-you-mean lookups.

    ``builtins``: the module whose import registers the built-in entries (imported on the
    first lookup, so that this table and the config need no JAX).
    """

    def __init__(self, kind: str, builtins: str):
        self.kind, self._builtins = kind, builtins
        self._entries: dict[str, E] = {}
        self._families: dict[str, Callable[..., E]] = {}
        self._made: dict[tuple, tuple[str, E]] = {}  # (family, args) -> (first name, entry)
        self._loaded = False

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            importlib.import_module(self._builtins)

    def register(self, name: str, entry: E) -> E:
        """Add (or replace) ``entry`` under ``name``; returns the entry."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.kind} name must be a non-empty string, got {name!r}")
        self._load()  # a user's entry replaces a built-in, never the reverse
        self._entries[name] = entry
        return entry

    def register_family(self, family: str, factory: Callable[..., E]) -> None:
        """Let ``"family(x1, x2, ...)"`` name an entry: ``factory(x1, x2, ...)`` with the numbers
        parsed as floats (e.g. ``leaky_relu(0.1)``, ``hermite(0, 0, 1)``).

        Each distinct argument tuple is built once and cached, so equal names (also ``0.1`` and
        ``0.10``) give the *identical* entry, as the engine's compile cache needs.  ``factory``
        raises ``ValueError`` on bad arguments; the lookup turns that into a ``ConfigError``.
        """
        if not isinstance(family, str) or not family.isidentifier():
            raise ValueError(f"a {self.kind} family name must be an identifier, got {family!r}")
        self._load()
        self._families[family] = factory
        self._made = {k: v for k, v in self._made.items() if k[0] != family}

    def unregister(self, name: str) -> None:
        """Remove ``name`` (a user's entry or family, e.g. at the end of a test)."""
        self._entries.pop(name, None)
        if self._families.pop(name, None) is not None:
            self._made = {k: v for k, v in self._made.items() if k[0] != name}

    _CALL = re.compile(r"^\s*([A-Za-z_]\w*)\s*\((.*)\)\s*$", re.S)

    def _from_family(self, name, where: str):
        """The entry of a ``family(args)`` name, or None when ``name`` is not of that form."""
        m = self._CALL.match(name) if isinstance(name, str) else None
        if m is None or m.group(1) not in self._families:
            return None
        family, body = m.group(1), m.group(2).strip()
        try:
            args = tuple(float(a) for a in body.split(",")) if body else ()
        except ValueError:
            raise ConfigError(
                f"{where}{self.kind} {name!r}: the arguments of {family}(...) must be numbers, got {body!r}"
            ) from None
        if key := self._made.get((family, args)):
            return key[1]
        try:
            entry = self._families[family](*args)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{where}{self.kind} {name!r}: {e}") from None
        self._made[(family, args)] = (name, entry)
        return entry

    def get(self, name: str, key: str | None = None) -> E:
        """The entry named ``name``; ``key`` (the dotted config key) names the field in the error.

        Raises :class:`~jaxrelu.config.ConfigError`: ``model.activation: unknown activation
        'rleu' (did you mean 'relu'?; known: erf, linear, relu)``.
        """
        self._load()
        where = f"{key}: " if key else ""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            made = self._from_family(name, where)
            if made is not None:
                return made
            fams = {f: f"{f}(...)" for f in self._families if f not in self._entries}
            known = sorted([*self._entries, *fams.values()])
            guess = difflib.get_close_matches(str(name).split("(")[0].strip(), sorted([*self._entries, *fams]), n=1)
            hint = f"did you mean {fams.get(guess[0], guess[0])!r}?; " if guess else ""
            raise ConfigError(f"{where}unknown {self.kind} {name!r} ({hint}known: {', '.join(known)})") from None

    def name_of(self, entry: Any) -> str:
        """The name ``entry`` is registered under (for messages and metadata)."""
        self._load()
        return next(k for k, v in [*self._entries.items(), *self._made.values()] if v is entry)

    def names(self) -> list[str]:
        """Registered names, sorted."""
        self._load()
        return sorted(self._entries)

    def __contains__(self, name) -> bool:
        self._load()
        if name in self._entries:
            return True
        try:
            return self._from_family(name, "") is not None
        except ConfigError:
            return False

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


ACTIVATIONS: Registry = Registry("activation", "jaxrelu.activations")
LOSSES: Registry = Registry("loss", "jaxrelu.losses")
TASKS: Registry = Registry("task", "jaxrelu.tasks")
OPTIMIZERS: Registry = Registry("optimizer", "jaxrelu.optimizers")
DYNAMICS: Registry = Registry("dynamics", "jaxrelu.dynamics")
OBSERVABLES: Registry = Registry("observable", "jaxrelu.observables")


def load_plugins(plugins, base_dir: str | Path = ".", key: str = "run.plugins") -> None:
    """Import each plugin (a path to a ``.py`` file, relative to ``base_dir``, or a module name).

    A plugin registers entries at import; importing the same file twice does nothing.
    """
    for spec in plugins:
        if spec.endswith(".py") or "/" in spec:
            path = (Path(base_dir) / spec).resolve()
            if not path.is_file():
                raise ConfigError(f"{key}: plugin file {str(path)!r} does not exist")
            name = f"jaxrelu_plugin_{abs(hash(str(path))):x}"
            if name in sys.modules:
                continue
            loader = importlib.util.spec_from_file_location(name, path)
            if loader is None or loader.loader is None:
                raise ConfigError(f"{key}: plugin {spec!r} is not a Python file (.py) nor a module name")
            module = importlib.util.module_from_spec(loader)
            sys.modules[name] = module
            try:
                loader.loader.exec_module(module)
            except Exception:
                del sys.modules[name]
                raise
        else:
            try:
                importlib.import_module(spec)
            except ModuleNotFoundError as e:
                raise ConfigError(f"{key}: cannot import plugin module {spec!r} ({e})") from None
