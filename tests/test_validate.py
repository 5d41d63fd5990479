"""The schema and the self-contained validator, cross-checked against ``jsonschema`` when it is installed."""

import copy
import importlib.util
import json
import pathlib

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from parity_tracer import cli, jsonio
from parity_tracer.document import reduce, validate
from parity_tracer.document.validate import load_schema, validate_document

try:
    import jsonschema
except ImportError:  # pragma: no cover
    jsonschema = None

needs_jsonschema = pytest.mark.skipif(jsonschema is None, reason="jsonschema not installed")


def _stream_helpers():
    """The synthetic-stream helpers live in test_reduce.py; load it by path (works in any pytest import mode)."""
    path = pathlib.Path(__file__).with_name("test_reduce.py")
    spec = importlib.util.spec_from_file_location("_parity_stream_helpers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def documents(tmp_path_factory):
    helpers = _stream_helpers()
    docs = {}
    for name, build in (("grid", helpers.grid_run), ("rawdata", helpers.rawdata_run)):
        out = tmp_path_factory.mktemp(name)
        build(out).write()
        docs[name] = reduce.reduce_streams([out / "streams"], out_dir=out)[0]
    empty = tmp_path_factory.mktemp("bare")
    s = helpers.Stream(empty)
    s.header(pipeline=None, scenario=None)
    s.write(footer=False)
    docs["bare"] = reduce.reduce_streams([empty / "streams"], out_dir=empty)[0]
    return docs


def js_valid(doc):
    return jsonschema.Draft202012Validator(load_schema()).is_valid(doc)


def errors_of(doc):
    return ["%s: %s" % (p or "/", r) for p, r in validate_document(doc)]


def set_at(doc, pointer, value):
    parts = [p for p in pointer.split("/")[1:]]
    node = doc
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    last = parts[-1]
    if value is DELETE:
        if isinstance(node, list):
            del node[int(last)]
        else:
            del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return doc


DELETE = object()


# -- the schema itself ----------------------------------------------------------------------------------------

@needs_jsonschema
def test_schema_is_valid_draft_2020_12():
    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_schema_names_every_spec_block_and_field():
    schema = load_schema()
    root = schema["properties"]
    assert set(schema["required"]) == {"schema_version", "timestamp", "pipeline", "scenario", "provenance",
                                       "configuration", "probe", "intensity_stages", "stage_ratios",
                                       "full_chain_product", "symmetry_check", "intensity_scale", "training",
                                       "inference", "comparison"}
    assert root["schema_version"]["const"] == "1.0"
    assert set(root["configuration"]["required"]) >= {"N", "gridsize", "nphotons", "neighbor_count", "group_count",
                                                      "batch_size", "nepochs", "split_fraction", "loss_fn",
                                                      "loss_weights", "intensity_scale_trainable",
                                                      "legacy_params_cfg_snapshot"}
    assert set(root["training"]["required"]) == {"epochs_completed", "early_stopped", "early_stop_epoch",
                                                 "final_loss", "final_val_loss", "nan_detected", "first_nan_epoch",
                                                 "history_artifact", "checkpoint_artifact"}
    stages = root["intensity_stages"]["prefixItems"]
    assert [s["properties"]["name"]["const"] for s in stages] == [
        "raw_diffraction", "grouped_diffraction", "grouped_X_full", "container_X", "training_labels_Y_amp",
        "inference_prediction"]


# -- reducer output ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["grid", "rawdata", "bare"])
def test_reduced_documents_are_valid(documents, name):
    assert errors_of(documents[name]) == []
    if jsonschema is not None:
        assert js_valid(documents[name])


MUTATIONS = [
    ("/probe/shape", "abc", "/probe/shape: expected array or null, got string"),
    ("/probe/shape", [8, -1], "/probe/shape/1: expected >= 0, got -1"),
    ("/provenance/commit_hash", DELETE, "/provenance/commit_hash: required property is missing"),
    ("/provenance/dirty", "false", "/provenance/dirty: expected boolean or null, got string"),
    ("/schema_version", "0.9", '/schema_version: expected "1.0", got "0.9"'),
    ("/timestamp", "yesterday", "/timestamp: does not match pattern"),
    ("/pipeline", None, "/pipeline: expected string, got null"),
    ("/pipeline", "", "/pipeline: expected at least 1 characters"),
    ("/intensity_stages/0/name", "grouped_diffraction",
     '/intensity_stages/0/name: expected "raw_diffraction", got "grouped_diffraction"'),
    ("/intensity_stages/3/stats/nan_count", 1.5, "/intensity_stages/3/stats/nan_count: expected integer or null, "
                                                "got number"),
    ("/intensity_stages/2/stats", DELETE, "/intensity_stages/2/stats: required property is missing"),
    ("/bogus", 1, "/bogus: unexpected property"),
    ("/configuration/N", True, "/configuration/N: expected integer or null, got boolean"),
    ("/configuration/N", 64.5, "/configuration/N: expected integer or null, got number"),
    ("/configuration/loss_fn", "mse", '/configuration/loss_fn: expected one of "nll", "mae", null, got "mse"'),
    ("/configuration/loss_weights/extra", 1.0, "/configuration/loss_weights/extra: unexpected property"),
    ("/training/early_stopped", "no", "/training/early_stopped: expected boolean or null, got string"),
    ("/comparison/ground_truth_source", "gt", "/comparison/ground_truth_source: expected one of"),
    ("/comparison/crop_metadata/start", [1, 2, 3], "/comparison/crop_metadata/start: expected at most 2 items"),
    ("/stage_ratios/raw_to_grouped", "1", "/stage_ratios/raw_to_grouped: expected number or null, got string"),
    ("/symmetry_check/expected", 2.0, "/symmetry_check/expected: expected 1.0, got 2.0"),
    ("/intensity_scale/used_mode", "both", "/intensity_scale/used_mode: expected one of"),
    ("/tracer/errors/stats", -1, "/tracer/errors/stats: expected >= 0, got -1"),
    ("/probe/normalization/mask_stats/x", 0, "/probe/normalization/mask_stats/x: unexpected property"),
    ("/inference/artifacts/amplitude_npy", 3, "/inference/artifacts/amplitude_npy: expected string or null, "
                                              "got integer"),
    ("/provenance/dataset_source/type", "hdf5", "/provenance/dataset_source/type: expected one of"),
    ("/missing_stages", ["scaler_output"], "/missing_stages/0: expected one of"),
    ("/probe", [], "/probe: expected object, got array"),
]


@pytest.mark.parametrize("pointer,value,message", MUTATIONS, ids=[m[0] + ":" + repr(m[1])[:12] for m in MUTATIONS])
def test_mutations_are_reported(documents, pointer, value, message):
    doc = set_at(copy.deepcopy(documents["grid"]), pointer, value)
    errors = errors_of(doc)
    assert any(e.startswith(message) for e in errors), errors
    if jsonschema is not None:
        assert not js_valid(doc)


def test_too_few_stages_and_unknown_optional_stage(documents):
    doc = copy.deepcopy(documents["grid"])
    doc["intensity_stages"] = doc["intensity_stages"][:3]
    assert "/intensity_stages: expected at least 6 items, got 3" in errors_of(doc)
    doc = copy.deepcopy(documents["grid"])
    doc["intensity_stages"].append(dict(doc["intensity_stages"][0], name="made_up"))
    assert any(e.startswith("/intensity_stages/7/name: expected one of") for e in errors_of(doc))


def test_integer_valued_float_is_an_integer(documents):
    doc = copy.deepcopy(documents["grid"])
    doc["configuration"]["N"] = 64.0
    assert errors_of(doc) == []
    if jsonschema is not None:
        assert js_valid(doc)


def test_spec_only_document_without_extras_is_valid(documents):
    """A maintainer's document with only the spec's keys (no parity_tracer extras) must validate."""
    doc = copy.deepcopy(documents["grid"])
    schema = load_schema()

    def strip(node, sch):   # keep only required keys, recursively
        while "$ref" in sch:
            sch = validate._Validator(schema).resolve(sch["$ref"])
        if isinstance(node, dict) and "properties" in sch:
            for key in list(node):
                if key not in sch.get("required", ()):
                    del node[key]
                else:
                    strip(node[key], sch["properties"][key])
        elif isinstance(node, list) and "items" in sch:
            for i, item in enumerate(node):
                prefix = sch.get("prefixItems", [])
                strip(item, prefix[i] if i < len(prefix) else sch["items"])
    strip(doc, schema)
    assert "tracer" not in doc and "missing_stages" not in doc and "calls" not in doc["probe"]
    assert set(doc["intensity_stages"][0]) == {"name", "source", "stats", "metadata"}
    assert errors_of(doc) == []
    if jsonschema is not None:
        assert js_valid(doc)


# -- validator semantics against jsonschema on small schemas ----------------------------------------------------

SMALL = [
    ({"type": "integer"}, [1, 1.0, 1.5, True, "1", None]),
    ({"type": ["number", "null"]}, [0, -2.5, None, False, "x", []]),
    ({"enum": [1, "a", None]}, [1, 1.0, True, "a", None, "b"]),
    ({"const": [1, {"a": True}]}, [[1, {"a": True}], [1.0, {"a": True}], [1, {"a": 1}]]),
    ({"type": "object", "required": ["a"], "properties": {"a": {"type": "string"}},
      "additionalProperties": {"type": "integer"}}, [{"a": "x"}, {"a": "x", "b": 2}, {"a": "x", "b": "y"}, {}]),
    ({"type": "array", "prefixItems": [{"type": "string"}], "items": {"type": "integer"}, "minItems": 1,
      "maxItems": 3}, [["a"], ["a", 1, 2], ["a", "b"], [], ["a", 1, 2, 3], [1]]),
    ({"$defs": {"p": {"type": "string", "pattern": "^a+$"}}, "$ref": "#/$defs/p"}, ["aaa", "ab", 1]),
    ({"type": "string", "minLength": 2}, ["ab", "a", ""]),
]


@needs_jsonschema
@pytest.mark.parametrize("schema,instances", SMALL)
def test_small_schemas_agree_with_jsonschema(schema, instances):
    js = jsonschema.Draft202012Validator(schema)
    for instance in instances:
        assert (validate_document(instance, schema) == []) == js.is_valid(instance), (schema, instance)


json_leaf = st.none() | st.booleans() | st.integers(-5, 5) | st.floats(-2, 2, allow_nan=False) | st.text(max_size=3)
json_value = st.recursive(json_leaf, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=3), c,
                                                                                          max_size=3), max_leaves=8)


def _pointers(node, prefix=""):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _pointers(v, prefix + "/" + k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _pointers(v, prefix + "/" + str(i))


@needs_jsonschema
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_mutations_agree_with_jsonschema(documents, data):
    base = documents[data.draw(st.sampled_from(sorted(documents)))]
    pointers = [p for p in _pointers(base) if p and "~" not in p and "/" not in p.split("/")[-1]]
    pointer = data.draw(st.sampled_from(pointers))
    value = data.draw(json_value)
    doc = copy.deepcopy(base)
    if data.draw(st.booleans()):
        set_at(doc, pointer, value)
    else:
        set_at(doc, pointer, DELETE)
    ours = validate_document(doc) == []
    assert ours == js_valid(doc), (pointer, value, validate_document(doc))


# -- CLI -------------------------------------------------------------------------------------------------------

def test_cli_valid(documents, tmp_path, capsys):
    path = tmp_path / "t.json"
    jsonio.dump_pretty(documents["grid"], path)
    assert cli.main(["validate", str(path)]) == 0
    assert capsys.readouterr().out == "%s: valid\n" % path


def test_cli_invalid_lists_each_error(documents, tmp_path, capsys):
    doc = copy.deepcopy(documents["grid"])
    doc["probe"]["shape"] = None          # allowed: a run without probe events
    path = tmp_path / "doc.json"
    jsonio.dump_pretty(doc, path)
    assert cli.main(["validate", str(path)]) == 0
    capsys.readouterr()
    doc["probe"]["shape"] = "8x8"
    doc["probe"]["dtype"] = 5
    path.write_text(json.dumps(doc))
    assert cli.main(["validate", str(path)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "%s: /probe/shape: expected array or null, got string" % path,
        "%s: /probe/dtype: expected string or null, got integer" % path]


def test_cli_missing_required_reported_per_key(documents, tmp_path, capsys):
    doc = copy.deepcopy(documents["grid"])
    del doc["training"]["final_loss"]
    del doc["comparison"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    assert cli.main(["validate", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert "%s: /comparison: required property is missing" % path in out
    assert "%s: /training/final_loss: required property is missing" % path in out


def test_cli_unreadable_or_not_json_exits_2(tmp_path, capsys):
    assert cli.main(["validate", str(tmp_path / "missing.json")]) == 2
    assert "cannot read" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert cli.main(["validate", str(bad)]) == 2
    assert capsys.readouterr().err.startswith("parity_tracer: validate: %s: not JSON" % bad)
    nan = tmp_path / "nan.json"
    nan.write_text('{"schema_version": NaN}')
    assert cli.main(["validate", str(nan)]) == 2
    assert cli.main(["validate"]) == 2


def test_cli_root_not_an_object(tmp_path, capsys):
    path = tmp_path / "list.json"
    path.write_text("[]")
    assert cli.main(["validate", str(path)]) == 1
    assert capsys.readouterr().out == "%s: /: expected object, got array\n" % path


def test_the_validator_implements_every_keyword_the_schema_uses():
    used = set()

    def walk(node, schema_position=True):
        if isinstance(node, dict):
            if schema_position:
                used.update(node)
            for key, value in node.items():
                if key in ("properties", "$defs"):
                    for sub in value.values():
                        walk(sub)
                elif key not in ("enum", "const"):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)
    walk(load_schema())
    assert used <= validate.KEYWORDS, used - validate.KEYWORDS
