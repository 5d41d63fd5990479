"""§2.2 provenance: git state as the traced process recorded it, environment, seeds, the data set's source."""

from parity_tracer.profiles.ptychopinn import stagemap
from parity_tracer.document import fields
from parity_tracer.document.index import capped


def git_state(run):
    """What the traced process recorded about its own checkout (a ``git`` event). Never runs git: a received
    stream folder could hold a repository whose configuration runs commands."""
    state = {"commit_hash": "unknown", "branch": "unknown", "dirty": None}
    event = next((e for e in run.kind("git") if isinstance(e.get("commit"), str) and e["commit"]), None)
    if event is None:
        failed = next((e for e in run.kind("git") if isinstance(e.get("error"), str)), None)
        if failed is not None:
            run.note("traced code at %s: %s: commit_hash/branch unknown" % (fields.string(failed.get("path")),
                                                                          failed["error"]))
        elif run.kind("origin"):
            run.note("no git provenance recorded at trace time: commit_hash/branch unknown")
        else:
            run.note("no origin event: commit_hash/branch unknown")
        return state
    state["commit_hash"] = event["commit"][:100]
    state["branch"] = fields.string(event.get("branch"))[:200] if fields.string(event.get("branch")) else "unknown"
    state["dirty"] = fields.boolean(event.get("dirty"))
    return state


def environment(run):
    packages = {}
    for source in list(run.headers) + list(run.kind("environment")):
        for name, version in sorted(fields.mapping(source.get("packages")).items()):
            if isinstance(version, str):
                packages.setdefault(name, version)
    python = next((h.get("python") for h in run.headers if isinstance(h.get("python"), str)), None)
    if python:
        python = python.split()[0]
    return {
        "python_version": python,
        "tensorflow_version": fields.first(packages, "tensorflow", "tensorflow-cpu", "tensorflow_cpu"),
        "keras_version": fields.first(packages, "keras", "tf_keras", "tf-keras"),
        "numpy_version": packages.get("numpy"),
        "packages": dict(sorted(packages.items())),
    }


def _first_simulation_index(run):
    for ev in run.events:
        if ev["kind"] in ("stage", "intensity_scale") and fields.string(ev.get("source")) in stagemap.SIMULATION_SOURCES:
            return ev["_i"]
        ctx = ev.get("context")
        if ctx and any(c in stagemap.SIMULATION_SOURCES for c in fields.strings(ctx)):
            return ev["_i"]
    return None


def seeds(run):
    seeds = run.kind("seed")
    calls, sim_seed, sim_fallback, training = [], None, None, None
    first_sim = _first_simulation_index(run) if seeds else None
    for ev in seeds:
        family = stagemap.seed_family(ev.get("api"))
        ctx = fields.strings(ev.get("context"))
        value = fields.integer(ev.get("value"))
        calls.append({"api": fields.string(ev.get("api")), "value": value, "order": fields.integer(ev.get("order")),
                      "context": ctx[-1] if ctx else None})
        if family == "numpy":
            if sim_seed is None and any(c in stagemap.SIM_SEED_CONTEXTS for c in ctx):
                sim_seed = ev
            if sim_fallback is None and (first_sim is None or ev["_i"] < first_sim):
                sim_fallback = ev
        if training is None and (family in stagemap.TRAINING_SEED_FAMILIES or
                                 any(c in stagemap.TRAINING_SEED_CONTEXTS for c in ctx)):
            training = ev
    sim = sim_seed or sim_fallback
    sim_value = fields.integer(sim.get("value")) if sim else None
    return {"object_seed": sim_value, "sim_seed": sim_value,
            "training_seed": fields.integer(training.get("value")) if training else None,
            "calls": capped(run, calls, "seed calls")}


def dataset_source(run, stages):
    events = run.kind("dataset")
    ev = events[0] if events else None
    raw_source = stages["raw_diffraction"]["source"]
    if ev is not None:
        dtype = ev.get("type") if ev.get("type") in stagemap.DATASET_TYPES else None
        path = run.resolve(ev.get("path"), ev["pid"])
        checksum = fields.string(ev.get("checksum"))
        source = fields.string(ev.get("source"))
        chain = fields.string(ev.get("chain"))
    else:
        dtype = stagemap.DATASET_TYPE_BY_SOURCE.get(raw_source)
        path = checksum = chain = None
        source = raw_source
    if chain is None and dtype is not None:
        if dtype == "npz_file":
            chain = "loaded from %s" % (run.doc_path(path) if path is not None else "an unrecorded npz file")
        else:
            chain = "simulated in process"
        chain += "%s%s" % (" (sha256 %s)" % checksum if checksum else "", " by %s" % source if source else "")
        if ev is None:
            chain += "; inferred from the raw_diffraction capture (no dataset event recorded)"
    return {"type": dtype, "path": run.doc_path(path) if path is not None else None, "checksum": checksum,
            "provenance_chain": chain, "source": source,
            "count": len(events)}
