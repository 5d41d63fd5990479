"""§2.8 training: the model under test's training event (epochs, losses, NaN, early stop, checkpoint)."""

from parity_tracer.profiles.ptychopinn import stagemap
from parity_tracer.document import fields
from parity_tracer.document.index import rank_in


def training(run):
    """``(training block, the history to write beside the document or None)``."""
    events = run.kind("training")
    flag = stagemap.TRAINING_PREFERRED_FLAG   # the model under test, not e.g. a baseline trained alongside
    ev = min(events, key=lambda e: (0 if e.get(flag) is True else 1,
                                    rank_in(stagemap.TRAINING_SOURCES, e.get("source")), e["_i"])) \
        if events else None
    e = ev or {}
    history = e.get("history") if isinstance(e.get("history"), dict) else None
    losses = history.get("loss") if history and isinstance(history.get("loss"), list) else None
    val_losses = history.get("val_loss") if history and isinstance(history.get("val_loss"), list) else None
    epochs = fields.count(e.get("epochs_completed"))
    if epochs is None and losses is not None:
        epochs = len(losses)
    final_loss = fields.number(e.get("final_loss"))
    if final_loss is None and losses:
        final_loss = fields.number(losses[-1])
    final_val = fields.number(e.get("final_val_loss"))
    if final_val is None and val_losses:
        final_val = fields.number(val_losses[-1])
    nan_detected = fields.boolean(e.get("nan_detected"))
    first_nan = fields.count(e.get("first_nan_epoch"))
    if nan_detected is None and losses is not None:   # null in a history = a non-finite value (0-based epoch)
        bad = [i for i, v in enumerate(losses) if fields.number(v) is None]
        nan_detected, first_nan = bool(bad), (bad[0] if bad else None)
    checkpoint = next((a for a in run.kind("artifact") if a.get("name") == "checkpoint"), None)
    if ev is None:
        run.note("no training event: training block is null")
    block = {
        "epochs_completed": epochs,
        "early_stopped": fields.boolean(e.get("early_stopped")),
        "early_stop_epoch": fields.count(e.get("early_stop_epoch")),
        "final_loss": final_loss,
        "final_val_loss": final_val,
        "nan_detected": nan_detected,
        "first_nan_epoch": first_nan,
        "history_artifact": None,   # named by the writer once written (artifacts.py)
        "checkpoint_artifact": run.doc_path(run.resolve(checkpoint.get("path"), checkpoint["pid"]))
        if checkpoint is not None else None,
        "source": fields.string(e.get("source")),
        "history_keys": sorted(history) if history else [],
        "events": len(events),
    }
    return block, (history if run.out_dir is not None else None)
