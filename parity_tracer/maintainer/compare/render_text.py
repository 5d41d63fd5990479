"""A comparison report as plain text (the default of ``compare``): underlined title, ``== heading ==``, aligned
columns."""

from parity_tracer.maintainer.compare import layout


def render(report):
    return layout.lines(layout.blocks(report), _Style)


class _Style:
    @staticmethod
    def title(text):
        return [text, "=" * len(text), ""]

    @staticmethod
    def heading(text):
        return ["== %s ==" % text, ""]

    @staticmethod
    def run(f):
        return ("%(label)s: %(path)s\n   pipeline %(pipeline)s, scenario %(scenario)s, commit %(commit)s (%(branch)s"
                "%(dirty)s), python %(python)s, tensorflow %(tensorflow)s, keras %(keras)s, numpy %(numpy)s\n"
                "   dataset: %(dataset)s, checksum %(checksum)s" % f) + (" (%s)" % f["chain"] if f["chain"] else "")

    @staticmethod
    def table(header, rows):
        widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
        out = []
        for i, r in enumerate([header] + rows):
            out.append("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
            if i == 0:
                out.append("  ".join("-" * w for w in widths))
        return out
