"""A comparison report as JSON (``compare --format json``): the report dict itself, strict JSON, sorted keys."""

from parity_tracer import jsonio


def render(report):
    return jsonio.dumps_pretty(report).decode("utf-8")
