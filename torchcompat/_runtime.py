"""Reading torch's live off-switches without importing anything torch has not loaded yet.

Every function here looks only at modules already in ``sys.modules``: asking whether dynamo is
off must never be what imports dynamo (~1-2 s).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from torchcompat import _config_read, _internals

__all__ = [
    "UNREADABLE",
    "config_disable",
    "disable_reader",
    "force_eager",
    "inlines_builtin_modules",
    "needs_stance",
    "stance_reader",
    "strict_loose_disable",
    "switch_reader",
    "without_dynamo",
]

_CONFIG = "torch._dynamo.config"
_EVAL_FRAME = "torch._dynamo.eval_frame"


class _Unreadable:
    """A switch this torch keeps where torchcompat cannot read it: truthy, as "off" is."""

    __slots__ = ()

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return "UNREADABLE"


#: What a reader returns for a switch torchcompat cannot read on this torch (truthy: every
#: guard runs eagerly while it cannot tell; never read as "compilation on").
UNREADABLE: Any = _Unreadable()


def _unreadable() -> object:
    return UNREADABLE


# disable_reader()'s answer for the gate, made once dynamo's config is loaded.
_reader: Callable[[], object] | None = None
# The reader disable_reader() settled on: checked once per process (the config module is never
# replaced once imported).
_checked: Callable[[], object] | None = None


def config_disable() -> object:
    """``torch._dynamo.config.disable`` as torch holds it, or ``None`` if dynamo is not loaded.

    On 2.0-2.7 this may be the raw ``TORCH_COMPILE_DISABLE`` string (``"0"`` included).
    """
    global _reader
    if _reader is None:
        if _CONFIG not in sys.modules:
            return None
        _reader = disable_reader()
    return _reader()


def disable_reader() -> Callable[[], object]:
    """A function that reads ``torch._dynamo.config.disable`` now, in the calling thread.

    The fast read where :func:`._config_read.fast_disable_reader` recognises the config's shape
    and checks it, else the public one; decided once. Needs ``torch._dynamo.config`` loaded.
    Where the config has no ``disable`` entry (a release that renamed it), a read that always
    says :data:`UNREADABLE`, and one :class:`~torchcompat.TorchCompatWarning`.
    """
    global _checked
    if _checked is None:
        config = sys.modules[_CONFIG]
        if _internals.absent(config, "torch._dynamo.config.disable"):
            _checked = _unreadable
            return _checked
        fast = _config_read.fast_disable_reader()
        if fast is None:

            def public() -> object:
                return config.disable

            fast = public
        _checked = fast
    return _checked


def stance_reader() -> Callable[[], object] | None:
    """A read of whether ``set_stance("force_eager")`` is in effect, or None where none can be.

    ``None`` before dynamo is loaded, and on releases without ``set_stance`` (before 2.6).
    Where a release that has it lacks ``eval_frame._stance``, a read that always says
    :data:`UNREADABLE` (with one :class:`~torchcompat.TorchCompatWarning`): the gate and every
    guard that reads the stance answer from this one function.
    """
    eval_frame = sys.modules.get(_EVAL_FRAME)
    if eval_frame is None:
        return None
    name = "torch._dynamo.eval_frame._stance"
    if _internals.absent(eval_frame, name):
        return _unreadable if _internals.expected(name) else None

    def read() -> object:
        # set_stance rebinds the module global: read it through the module every time.
        return eval_frame._stance.stance == "force_eager"

    return read


def force_eager() -> object:
    """Whether ``torch.compiler.set_stance("force_eager")`` is in effect (2.6+).

    ``True``/``False``, or :data:`UNREADABLE` (truthy) where this torch keeps the stance where
    torchcompat cannot read it.
    """
    read = stance_reader()
    return False if read is None else read()


def needs_stance(fullgraph: bool) -> bool:
    """Whether a result's guard must read the ``force_eager`` stance as well as the config.

    Only 2.12's fullgraph check also warns under that stance; 2.13+ skip the check under any
    non-default stance, and every release runs force_eager eagerly with dynamo's callback
    removed (no skip marks). The one place this rule is written (the benchmarks use it too).
    """
    from torchcompat.version import installed_facts

    facts = installed_facts()
    return fullgraph and facts is not None and facts.fullgraph_check == "warn"


def inlines_builtin_modules() -> bool:
    """Whether dynamo traces into torch's own modules rather than calling them as graph leaves.

    ``torch._dynamo.config.inline_inbuilt_nn_modules``: absent before 2.5, on by default from
    2.5, deprecated (always on) from 2.13, where reading it emits a FutureWarning that is noise
    here. Read once per in-place compile, never per call.
    """
    import warnings

    config = sys.modules.get(_CONFIG)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return bool(getattr(config, "inline_inbuilt_nn_modules", False))


def strict_loose_disable() -> None:
    """Give ``torch._dynamo.config.disable`` the strict meaning that torch 2.8 gave it.

    torch 2.0-2.7 store the raw ``TORCH_COMPILE_DISABLE`` string, so ``"0"`` or ``"false"`` turn
    dynamo off. This turns a string value into ``value == "1"``, upstream's own later rule
    (pytorch/pytorch#149840), backported. A bool (set by the user) is left alone.
    """
    config = sys.modules.get(_CONFIG)
    value = getattr(config, "disable", None)
    if isinstance(value, str):
        config.disable = value == "1"  # type: ignore[union-attr]


def switch_reader(stance: bool) -> Callable[[], object]:
    """A function whose result is truthy while torch's runtime switches turn dynamo off.

    ``config.disable`` always; with ``stance``, the ``force_eager`` stance too (only 2.12 needs
    it: its fullgraph check also warns under that stance, which later releases skip).
    """
    read = disable_reader()
    stance_read = stance_reader() if stance else None
    if stance_read is None or read is _unreadable:
        return read
    if stance_read is _unreadable:
        return _unreadable

    def off() -> object:
        return read() or stance_read()

    return off


def without_dynamo(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn``, run with dynamo's frame callback removed for the call.

    A frame entered while a compiled region's callback is installed and ``config.disable`` is
    set is marked "skip for good" by torch; running the eager original with the callback off
    leaves no such mark on it or on anything it calls. ``torch._dynamo.disable`` (2.0+; public
    as ``torch.compiler.disable`` from 2.1) does exactly that.
    """
    dynamo = sys.modules["torch._dynamo"]

    def run_eagerly(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    disabled: Callable[..., Any] = dynamo.disable(run_eagerly)
    return disabled
