"""setup.py - builds librerank.so with the repository's Makefile and ships it inside the `rerank` package.

Everything else is in pyproject.toml. The wheel is platform-specific (it holds a native library) but not
tied to a CPython version: the package talks to the library through ctypes.
"""
import os
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

ROOT = os.path.dirname(os.path.abspath(__file__))


class BuildWithLibrary(build_py):
    def run(self):
        super().run()
        jobs = os.environ.get("RERANK_BUILD_JOBS", str(min(os.cpu_count() or 1, 8)))
        # a plain optimized build whatever the calling make's variables (make check passes SAN=..., MAKEFLAGS)
        env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
        subprocess.check_call(["make", "-j" + jobs, "BUILD=build", "SAN=0", "NOISA=0", "build/librerank.so"],
                              cwd=ROOT, env=env)
        target = os.path.join(self.build_lib, "rerank")
        os.makedirs(target, exist_ok=True)
        shutil.copy2(os.path.join(ROOT, "build", "librerank.so"), os.path.join(target, "librerank.so"))


class BinaryDistribution(Distribution):
    def has_ext_modules(self):  # a platform wheel: librerank.so is machine code
        return True


try:
    from wheel.bdist_wheel import bdist_wheel

    class PlatformWheel(bdist_wheel):
        def get_tag(self):  # any CPython 3 (ctypes, no extension module), this platform
            _, _, plat = super().get_tag()
            return "py3", "none", plat

    extra = {"bdist_wheel": PlatformWheel}
except ImportError:
    extra = {}

setup(cmdclass={"build_py": BuildWithLibrary, **extra}, distclass=BinaryDistribution)
