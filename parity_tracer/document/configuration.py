"""§2.3 configuration: the params.cfg snapshot the run trained with, read through the stage map's field table."""

from parity_tracer.profiles.ptychopinn import stagemap
from parity_tracer.document import fields


def snapshot(run):
    snap = run.config_at_training
    if snap is None:
        exits = [e for e in run.kind("config") if e.get("when") == "exit"]
        # the root process's snapshot (the earliest stream header) over a child's, which sorts later
        root = min(run.headers, key=lambda h: (fields.number(h.get("t")) or 0.0, fields.integer(h.get("pid")) or 0), default=None)
        own = [e for e in exits if root is not None and e.get("pid") == root.get("pid")]
        snap = (own or exits or [None])[-1]
    if snap is None:   # one run of several has no exit snapshot of its own: the configuration it last set
        snap = ([e for e in run.kind("config") if e.get("when") == "update_legacy_dict"] or [None])[-1]
    return snap


def _grouping_metadata(run):
    for stage in stagemap.GROUPING_STAGES:
        for ev in run.stage_events.get(stage, ()):
            if ev.get("source") in stagemap.GROUPING_SOURCES and isinstance(ev.get("metadata"), dict):
                return ev["metadata"]
    return {}


def cfg_value(cfg, field, grouping=None):
    """One ``stagemap.CONFIG_FIELDS`` value of a params.cfg snapshot (else of the grouping metadata), or None."""
    coerce = fields.BY_KIND[field.kind]
    value = coerce(fields.first(cfg, *field.cfg_keys))
    if value is None and field.metadata_keys and grouping:
        value = coerce(fields.first(grouping, *field.metadata_keys))
    return value


def loss_fn(cfg):
    """The loss function a params.cfg snapshot selects (``stagemap.LOSS_FN_RULE``), or None."""
    key, when_positive, otherwise = stagemap.LOSS_FN_RULE
    weight = fields.number(cfg.get(key))
    return None if weight is None else (when_positive if weight > 0 else otherwise)


def configuration(run, snap):
    cfg = snap.get("cfg") if snap is not None and isinstance(snap.get("cfg"), dict) else None
    c = cfg or {}
    grouping = _grouping_metadata(run)
    out = {field.key: cfg_value(c, field, grouping) for field in stagemap.CONFIG_FIELDS}
    out["loss_fn"] = loss_fn(c)
    out["loss_weights"] = {name: fields.number(c.get(cfg_key)) for name, cfg_key in stagemap.LOSS_WEIGHTS}
    trainable_key, kind = stagemap.INTENSITY_SCALE_TRAINABLE
    out["intensity_scale_trainable"] = fields.BY_KIND[kind](c.get(trainable_key))
    out["legacy_params_cfg_snapshot"] = cfg
    updates = [e for e in run.kind("config") if e.get("when") == "update_legacy_dict"]
    before = [e for e in updates if run.before_training(e)]
    chosen = (before or updates or [None])[-1]
    dataclass_cfg = chosen.get("dataclass") if chosen is not None else None
    if dataclass_cfg is None and snap is not None:
        dataclass_cfg = snap.get("dataclass")
    out["dataclass_config"] = dataclass_cfg if isinstance(dataclass_cfg, dict) else None
    out["snapshot_when"] = snap.get("when") if snap is not None else None
    if snap is None:
        run.note("no params.cfg snapshot (config event at training_start or exit): configuration is null")
    return out
