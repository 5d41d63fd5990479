"""Compare two telemetry documents (spec v1.0): the §5.3 parity checklist, the first divergence, side by side.

``python -m parity_tracer compare A.json B.json [--mode auto|same-npz|equivalent-params]
[--format text|markdown|json] [-o FILE] [--plot FILE.png]``; A and B may also be two ``dose-experiments`` sweep
folders (``sweep.json``): their points are paired by nphotons and loss (``protocol/sweep.py``).

A is the reference (usually the legacy ``dose_experiments`` run), B the run under test. Every verdict is
symmetric: swapping A and B changes no result.

Tolerance semantics ("stats within X %")
----------------------------------------
* A statistic pair (a, b) is compared by its *relative difference* ``|a - b| / max(|a|, |b|, floor)``; it is
  within tolerance X when that is <= X. The denominator is the larger magnitude, so the measure is symmetric.
* ``floor`` keeps values near zero from producing huge relative differences (a minimum of 1e-9 against 3e-9 is
  not a 200 % change of a distribution whose values are ~0.3): for a statistics block it is
  ``FLOOR_FRACTION`` (0.1 %) of the block's scale ``max(|mean_a|, |mean_b|, std_a, std_b)``; for single values
  (intensity scales, probe_scale) it is ``EPS``.
* "stats" of an array stage are ``mean``, ``std``, ``min``, ``max`` (each must be within X) and its ``shape``
  (must be equal). "probe stats" are the post-normalization amplitude ``mean``, ``std``, ``min``, ``max``,
  ``l2_norm`` plus the phase ``mean``, ``std``, ``min``, ``max``; phase has no natural scale, so a phase pair
  is compared as ``|a - b| / pi``. "intensity_scale" is the value recorded for the run (``recorded_in_bundle``)
  and the model's ``exp(log_scale)``; both must be within X.
* A statistic present in one document only fails; one absent from both is skipped; an item with no data at all
  is "missing", which fails when the item is REQUIRED (parity that cannot be shown is not parity).

Checklist (spec §5.3), per mode: raw_diffraction 1 % (REQUIRED | N/A), probe 1 % (REQUIRED | COMPARE),
grouped_X_full 5 % (REQUIRED | COMPARE), intensity_scale 1 % (REQUIRED | COMPARE), final amplitude MAE and
pearson_r (COMPARE | COMPARE: shown, never judged, the spec gives no tolerance). COMPARE items that have a
tolerance are evaluated and reported but do not change the exit status.

First divergence
----------------
Checkpoints are walked in pipeline order: the probe (an input of both the simulation and the model), then the
spec §2.5 stages in spec order with the intensity scale where §3 captures it (before training)::

    probe, raw_diffraction, grouped_diffraction, pre_normalization_diffraction, grouped_X_full, container_X,
    intensity_scale, training_labels_Y_amp, training_labels_Y_I, scaler_output, inference_prediction

A checkpoint diverges when one of its statistics breaks its tolerance (the checklist tolerance where the
checklist has one, else ``DEFAULT_TOLERANCE`` = 5 %), its shapes differ, or a required stage was captured in
one run only. Optional stages take part only when both runs captured them. The first diverging checkpoint is
*the first divergence*; the first diverging §2.5 stage is reported too (*first divergent stage*).

Modules: ``checks`` (tolerances, checklist, mode, checkpoints), ``tables`` (side-by-side blocks), ``findings``
(first divergence, notable differences in words), ``report`` (all of it as one dict), ``layout`` with
``render_text`` / ``render_markdown`` / ``render_json`` and ``plot`` (presentation), ``command`` (the CLI).

Exit status: 0 when every REQUIRED item passes (in equivalent-params mode nothing is REQUIRED), 1 when one
fails, 2 when an input is unusable (unreadable, not JSON, not a telemetry document, different
``schema_version``), with a one-line reason on stderr.
"""


from parity_tracer.maintainer.compare import render_markdown, render_text
from parity_tracer.maintainer.compare.checks import (
    CHECKLIST, CHECKLIST_TOLERANCE, DEFAULT_TOLERANCE, MODES, REPORT_FORMAT, InputError, load_document, rel_diff)
from parity_tracer.maintainer.compare.command import add_arguments, command
from parity_tracer.maintainer.compare.formatting import fmt, pct, source_text, worst_text
from parity_tracer.maintainer.compare.plot import plot_stage_means
from parity_tracer.maintainer.compare.report import build_report
from parity_tracer.maintainer.compare.tables import prediction_count, stitch_gain

__all__ = ("CHECKLIST", "CHECKLIST_TOLERANCE", "DEFAULT_TOLERANCE", "MODES", "REPORT_FORMAT", "InputError",
           "add_arguments", "build_report", "command", "fmt", "load_document", "pct", "plot_stage_means",
           "prediction_count", "rel_diff", "render", "source_text", "stitch_gain", "worst_text")


def render(report, markdown=False):
    """The report as text, or markdown."""
    return (render_markdown if markdown else render_text).render(report)
