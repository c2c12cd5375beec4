"""Interactive knobs (ipywidgets) with a static fallback when no widget frontend is present."""

from __future__ import annotations

import importlib.util
import os

WIDGETS_ENV = "WORKBOOK_WIDGETS"


def widgets_available() -> bool:
    """True only when widgets can actually render: ipywidgets importable AND a live IPython kernel.

    Conservative on purpose: plain python, nbval/nbclient runs (the test set-up exports
    ``WORKBOOK_WIDGETS=0``) and terminals get False, so callers draw a static figure instead.
    ``WORKBOOK_WIDGETS=1`` forces True, ``WORKBOOK_WIDGETS=0`` forces False.
    """
    forced = os.environ.get(WIDGETS_ENV, "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    if importlib.util.find_spec("ipywidgets") is None:
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None or getattr(shell, "kernel", None) is None:
        return False  # a terminal IPython, or plain python: no frontend to draw widgets
    return getattr(shell.kernel, "comm_manager", None) is not None or importlib.util.find_spec("comm") is not None


def slider_or_grid(compute, values, name: str = "x", fmt: str = "{:.3g}"):
    """Explore ``compute(value) -> dict[str, float]`` over ``values``.

    With a widget frontend: an ipywidgets slider over ``values`` that prints the dict for the
    chosen value. Without one (plain python, nbval, static renders): a printed table with one
    row per value. Returns the list of ``(value, dict)`` rows computed (empty for the slider).
    """
    values = list(values)
    if widgets_available():
        import ipywidgets

        def show(**kw):
            v = kw[name]
            row = compute(v)
            print(f"{name} = {fmt.format(v)}   " + "   ".join(f"{k} = {fmt.format(x)}" for k, x in row.items()))

        ipywidgets.interact(show, **{name: ipywidgets.SelectionSlider(options=values, value=values[len(values) // 2])})
        return []
    rows = [(v, compute(v)) for v in values]
    keys = list(rows[0][1])
    print(f"{name:>8} " + " ".join(f"{k:>12}" for k in keys))
    for v, row in rows:
        print(f"{fmt.format(v):>8} " + " ".join(f"{fmt.format(row[k]):>12}" for k in keys))
    return rows
