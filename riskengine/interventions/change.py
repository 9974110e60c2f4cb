"""Distance travelled: each pupil's change from their pre to their post assessment, per subscale and
overall, with the Jacobson-Truax reliable change index, and the cohort's summary of it.

Reliable change (Jacobson & Truax, 1991): the standard error of a difference between two scores is
S_diff = sqrt(2) * SD * sqrt(1 - r), from the instrument's norm standard deviation SD and reliability r;
RCI = (post - pre) / S_diff, and |RCI| > 1.96 is a change unlikely (p < .05) to be measurement error alone.
A scale without a reliability gets no reliable-change figures, and the summary says why.

There is no comparison group here: a pupil chosen at a low point tends to score higher next time anyway
(regression to the mean), so these figures describe change, not the effect of the help.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from riskengine.interventions.catalogue import TOTAL, Instrument

RCI_CRITICAL = 1.96
NO_RELIABILITY = (
    "no reliable-change test: the instrument file gives no reliability (and norm SD) for this scale; "
    "take them from the licensed tool's manual and add them to its YAML"
)


def reliable_change_index(change: np.ndarray | pd.Series, reliability: float, norm_sd: float):
    """Jacobson-Truax RCI: change / (sqrt(2) * SD * sqrt(1 - reliability))."""
    s_diff = np.sqrt(2.0) * norm_sd * np.sqrt(1.0 - reliability)
    return change / s_diff


def _scores_wide(assessments: pd.DataFrame, instrument: Instrument) -> pd.DataFrame:
    """One row per assessment of `instrument`, subscales as columns plus the total."""
    own = assessments[assessments["instrument"] == instrument.id]
    wide = own.pivot_table(
        index=["id", "upn", "date", "stage"], columns="subscale", values="score", aggfunc="first"
    ).reindex(columns=list(instrument.subscale_names))
    subscales = wide[list(instrument.subscale_names)]
    wide[TOTAL] = subscales.mean(axis=1) if instrument.total_method == "mean" else subscales.sum(axis=1)
    return wide.reset_index()


def distance_travelled(assessments: pd.DataFrame, instruments: dict[str, Instrument]) -> pd.DataFrame:
    """Per pupil, instrument and scale (subscales and `total`): pre (their first `pre` assessment), post
    (their last `post`), change, improved, and RCI / reliable improvement where the scale has a
    reliability (else NA). `assessments` is `read_assessments`' long frame. Pupils without both a pre and
    a post assessment are left out here and counted by `unpaired_counts`."""
    frames = []
    for instrument in instruments.values():  # a few instruments
        wide = _scores_wide(assessments, instrument)
        if wide.empty:
            continue
        ordered = wide.sort_values(["upn", "date", "id"], kind="stable")
        pre = ordered[ordered["stage"] == "pre"].drop_duplicates("upn", keep="first").set_index("upn")
        post = ordered[ordered["stage"] == "post"].drop_duplicates("upn", keep="last").set_index("upn")
        both = pre.index.intersection(post.index)
        for scale in instrument.scales:
            before, after = pre.loc[both, scale.name], post.loc[both, scale.name]
            change = after - before
            frame = pd.DataFrame(
                {
                    "upn": both,
                    "instrument": instrument.id,
                    "scale": scale.name,
                    "pre_date": pre.loc[both, "date"].to_numpy(),
                    "post_date": post.loc[both, "date"].to_numpy(),
                    "pre": before.to_numpy(),
                    "post": after.to_numpy(),
                    "change": change.to_numpy(),
                    "improved": (instrument.direction * change > 0).to_numpy(),
                }
            )
            if scale.reliable_change_ready:
                rci = reliable_change_index(frame["change"], scale.reliability, scale.norm_sd)
                frame["rci"] = rci
                frame["reliably_improved"] = instrument.direction * rci > RCI_CRITICAL
                frame["reliably_deteriorated"] = instrument.direction * rci < -RCI_CRITICAL
            else:
                frame["rci"] = np.nan
                frame["reliably_improved"] = pd.NA
                frame["reliably_deteriorated"] = pd.NA
            frames.append(frame)
    columns = ["upn", "instrument", "scale", "pre_date", "post_date", "pre", "post", "change", "improved"]
    columns += ["rci", "reliably_improved", "reliably_deteriorated"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def unpaired_counts(assessments: pd.DataFrame) -> pd.DataFrame:
    """Per instrument, pupils with a pre but no post assessment and the reverse (named, never dropped
    silently)."""
    per = assessments.groupby(["instrument", "upn"])["stage"].agg(lambda s: frozenset(s))
    frame = per.reset_index()
    frame["pre_only"] = frame["stage"].map(lambda s: "pre" in s and "post" not in s)
    frame["post_only"] = frame["stage"].map(lambda s: "post" in s and "pre" not in s)
    return frame.groupby("instrument")[["pre_only", "post_only"]].sum().reset_index()


def cohort_change(
    per_pupil: pd.DataFrame, instruments: dict[str, Instrument], confidence: float = 0.95
) -> pd.DataFrame:
    """Per instrument and scale: pupils, % improved, % reliably improved (or why not), mean change with a
    t confidence interval, and the paired effect size d_z = mean change / SD of the changes."""
    rows = []
    for (instrument_id, scale_name), group in per_pupil.groupby(["instrument", "scale"], sort=False):
        instrument = instruments[str(instrument_id)]
        scale = next(s for s in instrument.scales if s.name == scale_name)
        change = group["change"].astype(float).to_numpy()
        n = len(change)
        mean = float(change.mean()) if n else np.nan
        sd = float(change.std(ddof=1)) if n > 1 else np.nan
        half = stats.t.ppf(0.5 + confidence / 2, n - 1) * sd / np.sqrt(n) if n > 1 else np.nan
        rows.append(
            {
                "instrument": instrument.id,
                "scale": scale.name,
                "label": scale.label,
                "pupils": n,
                "improved": int(group["improved"].sum()),
                "improved_rate": float(group["improved"].mean()) if n else np.nan,
                "reliably_improved": (
                    int(group["reliably_improved"].astype(bool).sum())
                    if scale.reliable_change_ready
                    else np.nan
                ),
                "reliably_improved_rate": (
                    float(group["reliably_improved"].astype(bool).mean())
                    if scale.reliable_change_ready and n
                    else np.nan
                ),
                "mean_change": mean,
                "ci_low": mean - half,
                "ci_high": mean + half,
                "sd_change": sd,
                "d_z": mean / sd if sd and sd > 0 else np.nan,
                "reliable_change_note": "" if scale.reliable_change_ready else NO_RELIABILITY,
            }
        )
    return pd.DataFrame(rows)


def pupil_assessments(
    assessments: pd.DataFrame, instruments: dict[str, Instrument]
) -> dict[str, pd.DataFrame]:
    """One pupil's assessments for the pupil page: per instrument, a table of each assessment (date, stage,
    one column per subscale; newest first) and their change per scale (`distance_travelled`)."""
    out = {}
    for instrument in instruments.values():
        own = assessments[assessments["instrument"] == instrument.id]
        if own.empty:
            continue
        history = _scores_wide(own, instrument).sort_values(["date", "id"], ascending=False)
        history = history.assign(date=history["date"].dt.date)[["date", "stage", *instrument.subscale_names]]
        out[instrument.id] = history
        change = distance_travelled(own, {instrument.id: instrument})
        if len(change):
            out[f"{instrument.id}:change"] = change.drop(columns=["upn", "instrument"])
    return out
