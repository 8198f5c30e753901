"""The speed/quality trade-off of one task: x = speedup vs the LLM, y = the primary metric, 95% CIs as
whiskers on both axes, each run's Pareto frontier as a staircase, the SLM sizes of a run (and their
L2S) joined as one curve per method, each trivial baseline as a floor
(the bar, the one the verdicts were judged against, drawn thicker). And a task's learning curves
(`results["curves"]`): the primary metric against optimizer steps and against training tokens, so
where each trained system crosses the bar, and whether L2S gets there before its SLM, can be read off.

Built on `matplotlib.figure.Figure` (no pyplot): no global state, and it renders headless.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from l2s_bench.report import rows as R

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MARKERS = "osD^vP*X"
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]
ROLE_STYLE = {"llm": ("#1f77b4", "o", "LLM"), "llm-ft": ("#9467bd", "D", "tuned LLM"), "slm": ("#ff7f0e", "s", "SLM"),
              "l2s": ("#d62728", "*", "L2S"), "assisted": ("#2ca02c", "^", "lossless (assisted)")}
RUN_STYLE = ("-", ":", "-.")  # each run's frontier; its markers are filled for the first run, hollow after


def frontier(points: list[tuple[float, float]], higher_is_better: bool = True) -> list[tuple[float, float]]:
    """The points no other point beats on both speed and quality, by increasing speedup."""
    best, kept = None, []
    for x, y in sorted(points, key=lambda p: (-p[0], -p[1] if higher_is_better else p[1])):
        if best is None or (y > best if higher_is_better else y < best):
            best = y
            kept.append((x, y))
    return kept[::-1]


def _whisker(value: float, low: float | None, high: float | None) -> list[list[float]]:
    """Errorbar lengths below/above; a missing CI draws a zero-length whisker rather than none."""
    return [[value - low if low is not None else 0.0], [high - value if high is not None else 0.0]]


def pareto(runs: list[dict], task: str) -> "Figure":
    """One point (an errorbar container labelled "<run>: <system>") per (run, system) that has both a
    speedup and the primary metric, coloured and shaped by role; systems without speed (the trivial
    ones) become dashed floors. The title says what the speed was measured on."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    info = R.task_info(runs, task)
    metric, higher = info["primary_metric"], info.get("higher_is_better", True)
    fig = Figure(figsize=(7.5, 5.0), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    roles, labels, timed_rows = [], [], []
    for k, run in enumerate(runs):
        points, by_role = [], {}
        run_rows = R.rows([run], task)
        bar = next((r["bar"] for r in run_rows if r["bar"]), None)
        for r in run_rows:
            y = r[f"{metric}_value"]
            if r["role"] == "trivial" and y is not None:
                ax.axhline(y, ls="--", lw=1.6 if r["system"] == bar else 0.8, color="0.35", alpha=0.7)
                ax.annotate(r["trivial"] + (" = the bar" if r["system"] == bar else "")
                            + (f", {run['run_id']}" if len(runs) > 1 else ""),
                            (0.01, y), xycoords=("axes fraction", "data"), xytext=(0, 3 + 11 * k),
                            textcoords="offset points", fontsize=8, color="0.35")
                continue
            x = r["speedup"]
            if x is None or y is None:
                continue
            color, marker, _ = ROLE_STYLE.get(r["role"], ("0.2", "X", r["role"]))
            ax.errorbar([x], [y], xerr=_whisker(x, r["speedup_ci_low"], r["speedup_ci_high"]),
                        yerr=_whisker(y, r[f"{metric}_ci_low"], r[f"{metric}_ci_high"]), fmt=marker, color=color,
                        mfc=color if k == 0 else "white", ms=7, capsize=3, elinewidth=1,
                        label=f"{run['run_id']}: {r['system']}")
            roles.append(r["role"])
            labels.append((x, y, r["system"] + (f" ({run['run_id']})" if len(runs) > 1 else ""), color))
            timed_rows.append(r)
            points.append((x, y))
            by_role.setdefault(r["role"], []).append((x, y))
        for role, line in by_role.items():  # several sizes of one method (SLMs, their L2S): its own curve
            if len(line) > 1 and role in ("slm", "l2s"):
                line.sort()
                ax.plot([p[0] for p in line], [p[1] for p in line], color=ROLE_STYLE[role][0], lw=1, alpha=0.6,
                        ls=RUN_STYLE[k % len(RUN_STYLE)])
        front = frontier(points, higher)
        if len(front) > 1:
            ax.step([p[0] for p in front], [p[1] for p in front], where="pre", color="0.4", lw=1, alpha=0.7,
                    ls=RUN_STYLE[k % len(RUN_STYLE)])
    _label_points(ax, labels)
    handles = [Line2D([], [], color=ROLE_STYLE[role][0], marker=ROLE_STYLE[role][1], ls="none", label=ROLE_STYLE[role][2])
               for role in ROLE_STYLE if role in roles]
    handles += [Line2D([], [], color="0.4", ls=RUN_STYLE[k % len(RUN_STYLE)], marker="o" if k == 0 else None,
                       mfc="0.4" if k == 0 else "white", label=f"{run['run_id']}: Pareto frontier")
                for k, run in enumerate(runs)]
    ax.set_xlabel("speedup vs LLM (x, 95% CI)")
    ax.set_ylabel(f"{metric} ({'higher' if higher else 'lower'} is better, 95% CI)")
    ax.set_title(f"{task}: quality vs speed\n{_measured_on(timed_rows)}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(handles=handles, fontsize=8, loc="best")
    return fig


def _measured_on(rows: list[dict]) -> str:
    """What the speedups were measured with, from the timed rows: device, backend, dtype, batch, timed n."""
    def one(key: str, fmt: str = "{}") -> str:
        values = sorted({str(r[key]) for r in rows if r.get(key) is not None})
        return fmt.format("/".join(values)) if values else ""

    parts = [one("device"), one("backend"), one("dtype"), one("batch_size", "batch {}"), one("speed_n", "{} timed items"),
             one("speed_mode", "{} lengths")]
    return ", ".join(p for p in parts if p) or "speed not measured"


def _label_points(ax, labels: list[tuple[float, float, str, str]]) -> None:
    """Each point's name beside it, moved down in steps where it would overlap a label already placed
    (points close on both axes, e.g. an SLM and its L2S at the same speed)."""
    if not labels:
        return
    xs, ys = [p[0] for p in labels], [p[1] for p in labels]
    dx, dy = (max(xs) - min(xs)) or 1.0, (max(ys) - min(ys)) or 1.0
    placed: list[tuple[float, float, int]] = []
    for x, y, text, color in sorted(labels, key=lambda p: (-p[1], p[0])):
        level = 0
        while any(abs(x - px) < 0.12 * dx and abs(y - py) < 0.06 * dy and lv == level for px, py, lv in placed):
            level += 1
        placed.append((x, y, level))
        ax.annotate(text, (x, y), xytext=(6, 4 - 11 * level), textcoords="offset points", fontsize=8, color=color)


def learning_curves(runs: list[dict], task: str) -> "Figure":
    """Two panels (x = optimizer steps, x = training tokens): one line with markers per (run, trained
    system), its 95% CI as a shaded band, the trivial bar dashed and the LLM dotted, all on the curve
    items. A system without points (a reused checkpoint) is named in the legend, not drawn."""
    from matplotlib.figure import Figure

    found = R.curves(runs, task)
    names = list(dict.fromkeys(name for _, curve in found for name in curve["systems"]))  # colour per system
    fig = Figure(figsize=(11.0, 4.8), dpi=110, layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for k, (run, curve) in enumerate(found):
        tag, style = (f"{run['run_id']}: " if len(found) > 1 else ""), ("-", "-.", ":")[k % 3]
        for name, system in curve["systems"].items():
            j = names.index(name)
            color, marker, points = COLORS[j % len(COLORS)], MARKERS[j % len(MARKERS)], system["points"]
            label = f"{tag}{name}: {R.crossing(system)}"
            if not points:
                axes[0].plot([], [], color=color, marker=marker, ls="none", label=label)
                continue
            y = [p["value"] for p in points]
            for ax, key in zip(axes, ("step", "tokens")):
                x = [p[key] for p in points]
                ax.plot(x, y, color=color, marker=marker, ms=4, lw=1.3, ls=style, label=label if key == "step" else None)
                if all(p["ci"] for p in points):
                    ax.fill_between(x, [p["ci"][0] for p in points], [p["ci"][1] for p in points], color=color,
                                    alpha=0.15, lw=0)
        lines = [(curve.get("trivial"), "--", f"{tag}trivial bar: {R.curve_bar(run, curve)}"),
                 (curve.get("llm"), ":", f"{tag}LLM {R.num((curve.get('llm') or {}).get('value'))}")]
        for ref, ls, label in lines:
            if ref:
                for ax in axes:
                    ax.axhline(ref["value"], ls=ls, lw=1.4, color="0.3", label=label if ax is axes[0] else None)
    first = found[0][1]
    axes[0].set_ylabel(f"{first['metric']} on {first['split']}, n={first['n']} (95% CI band)")
    axes[0].set_xlabel("optimizer steps")
    axes[1].set_xlabel("training tokens seen (prompt + response)")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7.5, loc="best")
    fig.suptitle(f"{task}: learning curves")
    return fig
