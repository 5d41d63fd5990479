"""Build of the optional C kernel ``parity_tracer._moments``; all metadata lives in pyproject.toml.

The extension is optional: without a working C compiler setuptools warns and skips it, the install
succeeds and ``parity_tracer.stats`` uses its pure-numpy path (same numbers, slower).  No numpy headers
are needed (the kernel reads arrays through the buffer protocol).
"""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class BuildExt(build_ext):
    def build_extensions(self):
        if self.compiler.compiler_type in ("unix", "mingw32", "cygwin"):  # gcc / clang command lines
            for ext in self.extensions:
                # -O3 for the vectoriser; never fast-math (it would drop the NaN/Inf tests): the C file
                # also refuses to compile under __FAST_MATH__ / __FINITE_MATH_ONLY__.
                ext.extra_compile_args = list(ext.extra_compile_args or []) + ["-O3", "-fno-fast-math"]
        super().build_extensions()


setup(
    ext_modules=[Extension("parity_tracer._moments", ["parity_tracer/_moments.c"], optional=True)],
    cmdclass={"build_ext": BuildExt},
)
