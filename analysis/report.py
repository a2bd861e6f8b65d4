"""The generated report: ``DIR/report.md``, a self-contained ``DIR/report.html`` (images embedded), the plots
as PNG and the frames as CSV (and Parquet where pyarrow is installed), all beside each other.

The report is built once as a list of blocks (heading, paragraph, list, table, image) and rendered twice.
"""

from __future__ import annotations

import base64
import datetime
import html
import os
import re

import pandas as pd

from analysis import literature, stats
from analysis.frames import Experiment
from analysis.plots import make_plots, save_placement
from analysis.stats import OUTCOMES, Skip, metric_label
from analysis.summary import placement_sentences, sentences

FRAMES = ("trials", "groups", "history")
MAX_TRIAL_ROWS = 200  # the trials table in the report; the CSV has them all


def write_report(exp: Experiment, out_dir: str, command: str = "") -> dict:
    """Write everything into ``out_dir`` (created); returns {kind: path} of what was written."""
    os.makedirs(out_dir, exist_ok=True)
    written = write_frames(exp, out_dir)
    try:
        imp = stats.importance(exp)  # fANOVA once: the plot and the summary both use it
    except Skip as e:
        imp = e  # why it does not apply: the report says so in place of the plot
    plots = make_plots(exp, out_dir, imp)
    written.update({p.name: p.path for p in plots if p.path})
    blocks = _blocks(exp, plots, sentences(exp, imp), written, command, _placement(exp, out_dir))
    md, page = os.path.join(out_dir, "report.md"), os.path.join(out_dir, "report.html")
    with open(md, "w") as f:
        f.write(to_markdown(blocks, out_dir))
    with open(page, "w") as f:
        f.write(to_html(blocks, title=f"{exp.sweep.name}: sweep report"))
    written.update({"report.md": md, "report.html": page})
    return written


def write_frames(exp: Experiment, out_dir: str) -> dict:
    frames = {"trials": exp.trials, "groups": exp.groups(), "history": exp.history}
    out = {}
    for name, df in frames.items():
        path = os.path.join(out_dir, f"{name}.csv")
        df.to_csv(path, index=False)
        out[f"{name}.csv"] = path
        parquet = _parquet(df, os.path.join(out_dir, f"{name}.parquet"))
        if parquet:
            out[f"{name}.parquet"] = parquet
    return out


def _parquet(df: pd.DataFrame, path: str) -> str | None:
    try:
        import pyarrow
    except ImportError:
        return None
    # Mixed columns (a list config value, a metric that is a number in one trial and missing text in
    # another) are written as text so that the file always writes.
    clean = df.copy()
    for col in clean.columns:
        if clean[col].dtype == object:
            clean[col] = clean[col].map(lambda v: None if v is None or (isinstance(v, float) and v != v)
                                        else str(v))
    try:
        clean.to_parquet(path, index=False)
    except (ValueError, TypeError, ImportError, OSError, pyarrow.ArrowException):
        return None  # the CSV is the record; Parquet is a convenience
    return path


# --------------------------------------------------------------------------------------------------
# Content


def _blocks(exp: Experiment, plots, summary: list[str], written: dict, command: str,
            placement: list[tuple]) -> list[tuple]:
    s, t = exp.sweep, exp.trials
    g = exp.groups()
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    b: list[tuple] = [("h1", f"Sweep {s.name}")]
    b.append(("p", f"Generated {when} from {exp.path}" + (f" by `{command}`" if command else "") + "."))
    b.append(("h2", "Summary"))
    b.append(("ul", summary))

    b.append(("h2", "What the sweep varied and measured"))
    if s.description:
        b.append(("p", s.description))
    cpu_h = float(t["cpu_s"].fillna(0).sum()) / 3600
    wall = float(t["time_total_s"].fillna(0).sum())
    b.append(("ul", [
        f"Metric: {metric_label(s.ranked_by)}; {'higher' if s.mode == 'max' else 'lower'} is better.",
        f"Model: {s.kind or 'unknown'}; settings from {s.source}.",
        f"Search: {s.search}; scheduler: {s.scheduler}"
        + (f" (max {s.max_t} iterations per trial)" if s.max_t else "") + ".",
        f"Seeds: {', '.join(map(str, s.seeds)) or 'unknown'}.",
        f"Trials: {len(t)}; " + ", ".join(f"{int((t['outcome'] == o).sum())} {o}" for o in OUTCOMES) + ".",
        f"Compute used: {wall:.0f} s of trial time, "
        + (f"{cpu_h:.2f} CPU-hours" if cpu_h >= 0.1 else f"{cpu_h * 3600:.0f} CPU-seconds")
        + f" at {stats.fmt(s.cpu)} CPU per trial"
        + (f" and {stats.fmt(s.gpu)} GPU" if s.gpu else "") + ".",
    ]))
    if s.provenance:
        p = s.provenance
        dirty = {True: " (with uncommitted changes)", False: "", None: ""}.get(p.get("git_dirty"), "")
        b.append(("p",
                  f"Produced by ebm-cd-study {p.get('project', '?')} at commit {p.get('git_commit', '?')}"
                       f"{dirty}; Python {p.get('python', '?')}, torch {p.get('torch', '?')}, "
                       f"Ray {p.get('ray', '?')}; CPU {p.get('cpu', '?')} ({p.get('cpus', '?')} cores), "
                       f"GPU {p.get('gpu', '?')}."))
    if s.cells:
        b.append(("p", f"The sweep ran {len(s.cells)} listed configurations (cells), not a cross of its "
                       "keys:"))
        b.append(("table", list(s.cells[0]), [[stats.fmt(c.get(k)) for k in s.cells[0]] for c in s.cells]))
    elif s.space:
        b.append(("table", ["swept key", "domain"], [[k, v] for k, v in s.space.items()]))

    b.append(("h2", "Configurations"))
    b.append(("p", f"One row per configuration, best first. {s.ranked_by}: final value of each trial; mean, "
                   f"standard deviation and {stats.ci_name(s.level).removesuffix(' CI')} Student-t interval "
                   f"over its seeds (one seed: no interval{_split(s)}). "
                   "Diverged and errored trials have no value and are counted, not averaged. The summary "
                   f"calls a difference only on a paired interval over at least {stats.MIN_PAIRED_DOF + 1} "
                   f"seeds ({stats.MIN_PAIRED_DOF} degrees of freedom), and shows the seeds' own values with "
                   "fewer."))
    names = [k.removeprefix("config/") for k in exp.group_keys]
    header = ["#", *names, f"{s.ranked_by} mean", f"± {stats.ci_name(s.level)}", "std", "n", *OUTCOMES,
              "best trial"]
    rows = [[str(i + 1), *(stats.fmt(r[k]) for k in names),
             stats.fmt(r["mean"], 5) + (f" ({r['unreliable']} unreliable)" if r["unreliable"] else ""),
             _spread(r["ci"]), _spread(r["std"]), str(r["n"]), *(str(r[o]) for o in OUTCOMES),
             str(r["best_trial"])]
            for i, (_, r) in enumerate(g.iterrows())]
    b.append(("table", header, rows))
    if (g["unreliable"] > 0).any():
        b.append(("p",
                  f"A mean marked unreliable averages a seed whose run called its {s.ranked_by} unreliable "
                       "(AIS with too few effective weights after every round it was allowed: an optimistic "
                       "estimate); such configurations rank after every reliable one."))

    published = literature.published_table(exp)
    if published:
        b.append(("h2", "Published figures beside this run"))
        b.append(("table", *published))
        b.append(("p", literature.PUBLISHED_NOTE))
    b += placement
    b.append(("h2", "Plots"))
    for p in plots:
        b.append(("h3", p.title))
        if p.path:
            b.append(("img", p.path, p.title))
        else:
            b.append(("p", f"Not drawn: {p.skipped}."))

    b.append(("h2", "Trials"))
    cols = ["trial_id", "outcome", "iterations", s.ranked_by, f"best/{s.ranked_by}", "time_total_s", "error"]
    shown = t.head(MAX_TRIAL_ROWS)
    rows = [[stats.fmt(r[c], 5) if c != "error" else (r[c] or "") for c in cols] for _, r in shown.iterrows()]
    b.append(("table", ["trial", "outcome", "iterations", "final", "best", "time (s)", "error"], rows))
    if len(t) > MAX_TRIAL_ROWS:
        b.append(("p", f"First {MAX_TRIAL_ROWS} of {len(t)} trials; trials.csv has them all."))

    if exp.notes:
        b.append(("h2", "Notes on the files read"))
        b.append(("ul", list(exp.notes)))
    b.append(("h2", "Files"))
    b.append(("ul", [f"{name}" for name in written if not name.endswith(".png")]))
    return b


def _placement(exp: Experiment, out_dir: str) -> list[tuple]:
    """The floor / ceiling section (heading, sentences, table, plot saved in ``out_dir``); empty when the
    sweep's metric has none (:func:`analysis.stats.placement`)."""
    try:
        p = stats.placement(exp)
    except Skip:
        return []
    m = exp.sweep.ranked_by
    out: list[tuple] = [("h2", "Between floor and ceiling")]
    out.append(("p", f"Floor: {m} of N training images against the same held-out reference; ceiling: N "
                     f"uniform-noise images; both at each trial's N through the same network. Position = "
                     f"(value - floor) / (ceiling - floor): 0 is as good as data, 1 as bad as noise. Spread: "
                     f"the std of floor and ceiling over draws of N images, the metric's own noise at that N "
                     f"(it grows with the distance from the data, so the larger of the two is used to call a "
                     f"difference clear). Uniform noise lies far from any image in feature space, so FID/KID "
                     "positions crowd near 0: on mnist5k at N = 500 a Gaussian blur of 1 px already sits at "
                     "a KID position of 0.07 and 5% salt-and-pepper at 0.04 (the ladder in BENCHMARKS.md); "
                     "read a small position against that ladder, not as 'almost data'. 'As trained': the "
                     "same metric of each arm's own training sampler's samples "
                     f"({m.replace('eval/', 'eval/as_trained/', 1)}), not used for ranking."))
    out.append(("ul", placement_sentences(p, m)))
    header = ["#", "configuration", f"{m} mean", "position (0 = data, 1 = noise)", "floor", "ceiling",
              "spread at floor", "spread at ceiling", "as trained", "its position", "n"]
    rows = [[str(i + 1), r["group"], stats.fmt(r["mean"], 4), stats.fmt(r["position"], 3),
             stats.fmt(r["floor"], 4), stats.fmt(r["ceiling"], 4), stats.fmt(r["spread"], 2),
             stats.fmt(r["ceiling_spread"], 2), stats.fmt(r["as_trained"], 4),
             stats.fmt(r["as_trained_position"], 3), str(r["n"])] for i, (_, r) in enumerate(p.iterrows())]
    out.append(("table", header, rows))
    plot = save_placement(exp, p, out_dir)
    out.append(("img", plot.path, plot.title) if plot.path
               else ("p", f"Position plot not drawn: {plot.skipped}."))
    return out


# --------------------------------------------------------------------------------------------------
# Rendering


def to_markdown(blocks: list[tuple], out_dir: str) -> str:
    lines = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            lines += ["#" * int(kind[1]) + " " + block[1], ""]
        elif kind == "p":
            lines += [block[1], ""]
        elif kind == "ul":
            lines += [f"- {item}" for item in block[1]] + [""]
        elif kind == "table":
            header, rows = block[1], block[2]
            lines.append("| " + " | ".join(_md_cell(h) for h in header) + " |")
            lines.append("|" + "---|" * len(header))
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
            lines.append("")
        elif kind == "img":
            lines += [f"![{block[2]}]({os.path.relpath(block[1], out_dir)})", ""]
    return "\n".join(lines)


def to_html(blocks: list[tuple], title: str) -> str:
    body = []
    for block in blocks:
        kind = block[0]
        if kind in ("h1", "h2", "h3"):
            body.append(f"<{kind}>{html.escape(block[1])}</{kind}>")
        elif kind == "p":
            body.append(f"<p>{_inline(block[1])}</p>")
        elif kind == "ul":
            body.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in block[1]) + "</ul>")
        elif kind == "table":
            head = "".join(f"<th>{html.escape(str(h))}</th>" for h in block[1])
            rows = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>"
                           for r in block[2])
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif kind == "img":
            with open(block[1], "rb") as f:
                data = base64.b64encode(f.read()).decode()
            body.append(f'<img alt="{html.escape(block[2])}" src="data:image/png;base64,{data}">')
    style = ("body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 "
             "1em;color:#222}table{border-collapse:collapse;font-size:0.85em;margin:0.5em 0}"
             "th,td{border:1px solid #ccc;padding:3px 6px;text-align:left}th{background:#f3f3f3}"
             "img{max-width:100%;border:1px solid #eee}")
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def _inline(text: str) -> str:
    """Escaped text with markdown's `code` spans as <code>."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def _split(s) -> str:
    """Why a sequential sweep's intervals are wider than 95%, for the sentence that gives their level."""
    if s.looks <= 1:
        return ""
    return (f"; 95% split over the {s.looks} looks of its sequential seeds, so that what it calls clear "
            "stays wrong at most 5% of the time however the looks fell")


def _spread(v) -> str:
    """A std or interval half-width; "–" where one value leaves no spread to estimate."""
    return stats.fmt(v, 3) if stats.finite(v) else "–"


def _md_cell(v) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")
