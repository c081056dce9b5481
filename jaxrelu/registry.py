"""Name → entry tables: every activation, loss, task, optimiser, dynamics and observable.

Each kind of extension has one :class:`Registry`.  A built-in is one entry, registered
by the module that defines it (``jaxrelu.activations``, ``jaxrelu.losses``,
``jaxrelu.tasks``, ``jaxrelu.optimizers``, ``jaxrelu.dynamics``,
``jaxrelu.observables``), which the registry imports the first time a name is looked
up.  A user registers their own entries with the same public calls (e.g.
:func:`jaxrelu.activations.register`) and then names them in a TOML study; modules
that register are imported by ``jaxrelu run --plugin FILE_OR_MODULE`` or by
``run.plugins = [...]`` in the study (:func:`load_plugins`).

Entries are frozen dataclasses holding the functions themselves, and the engine's
static program holds entries, not names: a changed registration is a different
program, compiled afresh.  This module imports no JAX (a config can be checked
without it), though looking a name up imports the built-ins, which do.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any, Generic, Iterator, TypeVar

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
        self._loaded = False

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            importlib.import_module(self._builtins)

    def register(self, name: str, entry: E) -> E:
        """Add (or replace) ``entry`` under ``name``; returns the entry."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a {self.kind} name must be a non-empty string, got {name!r}")
        self._load()                            # a user's entry replaces a built-in, never the reverse
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> None:
        """Remove ``name`` (a user's entry, e.g. at the end of a test)."""
        self._entries.pop(name, None)

    def get(self, name: str, key: str | None = None) -> E:
        """The entry named ``name``; ``key`` (the dotted config key) names the field in the error.

        Raises :class:`~jaxrelu.config.ConfigError`: ``model.activation: unknown activation
        'rleu' (did you mean 'relu'?; known: erf, linear, relu)``.
        """
        self._load()
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            known = sorted(self._entries)
            guess = difflib.get_close_matches(str(name), known, n=1)
            hint = f"did you mean {guess[0]!r}?; " if guess else ""
            where = f"{key}: " if key else ""
            raise ConfigError(f"{where}unknown {self.kind} {name!r} ({hint}known: {', '.join(known)})") from None

    def name_of(self, entry: Any) -> str:
        """The name ``entry`` is registered under (for messages and metadata)."""
        self._load()
        return next(k for k, v in self._entries.items() if v is entry)

    def names(self) -> list[str]:
        """Registered names, sorted."""
        self._load()
        return sorted(self._entries)

    def __contains__(self, name) -> bool:
        self._load()
        return name in self._entries

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
