"""Starts the Headroom agent in a process right after it imports ``mlx.core``, and does nothing else.

``headroom agent enable`` copies this module and the ``headroom_agent`` package into a folder
Headroom owns and writes two files into an environment's site-packages:

- ``headroom-agent.pth``: a path line (that folder) and one guarded import line that calls
  :func:`install` (Python 3.10 to 3.14; from 3.15 its import line is skipped because of the
  matching ``.start`` file, PEP 829);
- ``headroom-agent.start``: the entry point ``_headroom_hook:install`` (PEP 829, Python 3.15+,
  https://peps.python.org/pep-0829/: ``site`` appends the ``.pth`` paths first, then resolves
  each entry point with ``pkgutil.resolve_name`` and calls it without arguments).

:func:`install` costs one module import and one list insertion: it imports nothing that
``site`` has not already imported (``os``, ``sys``) and puts a finder at the front of
``sys.meta_path`` that answers only for ``mlx.core``. When ``mlx.core`` is imported, the finder
removes itself, lets the other finders find the real module, and wraps its loader so that the
agent starts as soon as the module has executed. A process that never imports MLX starts no
thread and opens no socket. ``HEADROOM_AGENT=0`` opts a process out. Nothing raised here ever
reaches the host program: a failure is written once to stderr as one line.
"""

import os
import sys

OPT_OUT_VARIABLE = "HEADROOM_AGENT"
WATCHED_MODULE = "mlx.core"

_state = {"installed": False, "fired": False, "logged": False}


def _log_once(message: str) -> None:
    """Writes one line to stderr, at most once per process; never raises."""
    if _state["logged"]:
        return
    _state["logged"] = True
    try:
        sys.stderr.write(f"headroom: {message}\n")
    except Exception:
        pass


def opted_out(env: object = None) -> bool:
    """Whether ``HEADROOM_AGENT`` is set to ``0`` (or ``false``/``no``/``off``)."""
    value = (os.environ if env is None else env).get(OPT_OUT_VARIABLE, "")  # type: ignore[attr-defined]
    return str(value).strip().lower() in ("0", "false", "no", "off")


class _WrappedLoader:
    """The real loader of ``mlx.core``; starts the agent once the module has executed."""

    def __init__(self, inner: object) -> None:
        self.inner = inner

    def create_module(self, spec: object) -> object:
        create = getattr(self.inner, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: object) -> None:
        self.inner.exec_module(module)  # type: ignore[attr-defined]
        # Leave nothing of ours on the module: it looks as if loaded without the hook.
        try:
            module.__loader__ = self.inner  # type: ignore[attr-defined]
            spec = getattr(module, "__spec__", None)
            if spec is not None:
                spec.loader = self.inner
        except Exception:
            pass
        start_agent()

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


class MlxImportWatcher:
    """A ``sys.meta_path`` finder that answers only for ``mlx.core``, once."""

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> object:
        if fullname != WATCHED_MODULE or _state["fired"]:
            return None
        _state["fired"] = True
        remove()
        try:
            for finder in list(sys.meta_path):
                find = getattr(finder, "find_spec", None)
                if find is None:
                    continue
                spec = find(fullname, path, target)
                if spec is None:
                    continue
                if getattr(spec.loader, "exec_module", None) is not None:
                    spec.loader = _WrappedLoader(spec.loader)
                return spec
        except Exception as exc:
            _log_once(f"agent hook could not watch the import of mlx.core ({exc!r}); the program runs without the agent")
        return None


_watcher = MlxImportWatcher()


def remove() -> None:
    """Takes the finder off ``sys.meta_path`` (no-op when it is not there)."""
    try:
        sys.meta_path.remove(_watcher)  # type: ignore[arg-type]
    except ValueError:
        pass


def install() -> None:
    """Puts the finder at the front of ``sys.meta_path``, once per process; never raises."""
    try:
        if _state["installed"] or opted_out():
            return
        _state["installed"] = True
        if WATCHED_MODULE in sys.modules:
            start_agent()
            return
        sys.meta_path.insert(0, _watcher)  # type: ignore[arg-type]
    except Exception as exc:
        _log_once(f"agent hook not installed ({exc!r})")


def _load_agent() -> object:
    """``headroom_agent`` from this module's folder (or the one already imported)."""
    loaded = sys.modules.get("headroom_agent")
    if loaded is not None:
        return loaded
    import importlib.util

    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "headroom_agent")
    init = os.path.join(folder, "__init__.py")
    spec = importlib.util.spec_from_file_location("headroom_agent", init, submodule_search_locations=[folder])
    if spec is None or spec.loader is None:
        raise ImportError(f"no agent package at {folder}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["headroom_agent"] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop("headroom_agent", None)
        raise
    return module


def start_agent() -> None:
    """Starts the agent in this process; a failure is logged once, never raised."""
    try:
        if opted_out():
            return
        import warnings

        agent = _load_agent()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            path = agent.start()  # type: ignore[attr-defined]
        if path is None:
            why = "; ".join(str(w.message).replace("headroom_agent: ", "", 1) for w in caught)
            _log_once(f"agent {why or 'not started'}")
    except Exception as exc:
        _log_once(f"agent not started ({exc!r}); set {OPT_OUT_VARIABLE}=0 to silence, or run `headroom agent enable` again")
