"""The comparison report of two documents: checks, findings and side-by-side blocks as one JSON-ready dict
(format ``parity-tracer-compare/1``); every renderer reads only this dict."""

from parity_tracer.maintainer.compare.checks import (
    CHECKLIST_TOLERANCE, DEFAULT_TOLERANCE, FLOOR_FRACTION, PHASE_SCALE, PROBE_SHAPE_RTOL, REPORT_FORMAT, REQUIRED,
    SCALE_CONSISTENCY_RTOL, SCAN_ORDER, check_versions, checklist, decide_mode, evaluate_checkpoint, stage_map)
from parity_tracer.maintainer.compare.findings import divergence, findings, first_divergence
from parity_tracer.maintainer.compare.tables import (
    comparison_table, configuration_table, inference_table, probe_table, ratio_table, run_info, scale_consistency,
    scale_table, stage_table, training_table)


def build_report(path_a, a, path_b, b, mode="auto"):
    check_versions(a, b)
    m = decide_mode(mode, a, b)
    stages_a, stages_b = stage_map(a), stage_map(b)
    scan = [evaluate_checkpoint(name, a, b, stages_a, stages_b) for name in SCAN_ORDER]
    checkpoints = {cp["name"]: cp for cp in scan}
    first, first_stage = first_divergence(scan)
    items = checklist(m["used"], a, b, checkpoints)
    required = [i for i in items if i["requirement"] == REQUIRED]
    failed = [i["key"] for i in required if not i["passed"]]
    config = configuration_table(a, b)
    return {
        "format": REPORT_FORMAT,
        "a": run_info(path_a, a),
        "b": run_info(path_b, b),
        "mode": m,
        "tolerances": {"checklist": dict(CHECKLIST_TOLERANCE), "default_stage": DEFAULT_TOLERANCE,
                       "floor_fraction": FLOOR_FRACTION, "phase_scale": PHASE_SCALE,
                       "probe_shape_rtol": PROBE_SHAPE_RTOL, "scale_consistency_rtol": SCALE_CONSISTENCY_RTOL},
        "checklist": items,
        "verdict": {"required": len(required), "required_passed": len(required) - len(failed),
                    "failed": failed, "passed": not failed, "exit_code": 1 if failed else 0},
        "first_divergence": divergence(first),
        "first_divergent_stage": divergence(first_stage),
        "scan": [{"name": cp["name"], "kind": cp["kind"], "tolerance": cp["tolerance"], "status": cp["status"],
                  "worst": cp["worst"], "detail": cp["detail"]} for cp in scan],
        "findings": findings(a, b, m, checkpoints, first, first_stage, stages_a, stages_b, config),
        "stages": stage_table(stages_a, stages_b),
        "stage_ratios": ratio_table(a, b),
        "probe": probe_table(a, b),
        "intensity_scale": {"rows": scale_table(a, b),
                            "consistency": {"a": scale_consistency(a), "b": scale_consistency(b)}},
        "inference": inference_table(a, b, stages_a, stages_b),
        "comparison": comparison_table(a, b),
        "training": training_table(a, b),
        "configuration": config,
    }
