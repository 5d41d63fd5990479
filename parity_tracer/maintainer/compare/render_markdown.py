"""A comparison report as markdown (``compare --format markdown``): headings, pipe tables with ``|`` escaped."""

from parity_tracer.maintainer.compare import layout


def render(report):
    return layout.lines(layout.blocks(report), _Style)


def table(header, rows):
    """A markdown table (cells are text; a ``|`` inside one is escaped)."""
    esc = [[c.replace("|", "\\|") for c in r] for r in [header] + rows]
    return (["| " + " | ".join(esc[0]) + " |", "|" + "|".join("---" for _ in header) + "|"] +
            ["| " + " | ".join(r) + " |" for r in esc[1:]])


class _Style:
    table = staticmethod(table)

    @staticmethod
    def title(text):
        return ["# " + text, ""]

    @staticmethod
    def heading(text):
        return ["## " + text, ""]

    @staticmethod
    def run(f):
        return ("**%(label)s**: `%(path)s` — pipeline %(pipeline)s, scenario %(scenario)s, commit `%(commit)s` "
                "(%(branch)s%(dirty)s); python %(python)s, tensorflow %(tensorflow)s, keras %(keras)s, "
                "numpy %(numpy)s; dataset %(dataset)s, checksum %(checksum)s" % f)
