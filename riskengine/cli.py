"""The `riskengine` command. Thin: every command parses its options and calls one documented function.

Each section below belongs to one stage of the data flow; keep a command's logic in its stage's module.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Early-warning engine for pupils at risk of becoming NEET.",
    no_args_is_help=True,
    add_completion=False,
)

# --- demo (issue 2) ---------------------------------------------------------------------------------------

# --- synthetic cohorts (issue 2) --------------------------------------------------------------------------

# --- upload and store (issue 3) ---------------------------------------------------------------------------

# --- features and rules (issue 4) -------------------------------------------------------------------------

# --- model, explanations and flags (issue 5) --------------------------------------------------------------

# --- evaluation (issue 6) ---------------------------------------------------------------------------------

# --- web service (issue 7) --------------------------------------------------------------------------------


if __name__ == "__main__":
    app()
