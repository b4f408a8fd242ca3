"""Build script: declares and cythonizes nnfast's compiled modules. Metadata lives in pyproject.toml.

Environment switches
--------------------
NNFAST_CYTHON_DEBUG=1    turn Cython's bounds/wraparound/initialized checks on (for hunting segfaults).
NNFAST_FAIL_NO_OPENMP=1  make a missing OpenMP a build error instead of a warning (serial build).
NNFAST_DISABLE_OPENMP=1  skip the probe and build the serial version on purpose.
"""

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

SRC = "src_cython"
# The sources by concept, one folder each: kernels/ (BLAS and GEMM wrappers, SIMD headers,
# elementwise kernels), layers/ (convolution, pooling, batch norm, the per-kind passes), engine/
# (the layer table, its checks, the update, the two epoch loops and their entry points), twins/
# (the Python-visible twins of the kernels, for the tests). Every folder is on Cython's include
# path and the C compiler's: the .pxd and .h files cimport and include each other by bare name.
FOLDERS = ["kernels", "layers", "engine", "twins"]
INCLUDE = [os.path.join(SRC, folder) for folder in FOLDERS]
# the compiled modules nnfast.<name> and their folders; the .pxd headers are shared inline code
MODULES = {"_kernels": "twins", "_train": "engine", "_conv": "engine", "_convtwins": "twins"}

DEBUG = os.environ.get("NNFAST_CYTHON_DEBUG", "0") == "1"
DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "cdivision": not DEBUG,
    "nonecheck": DEBUG,
    "embedsignature": True,
}

OPENMP_PROBE = textwrap.dedent(
    """
    #include <omp.h>
    #include <stdio.h>
    int main(void) {
        int count = 0;
        #pragma omp parallel reduction(+:count)
        count += 1;
        printf("%d\\n", count);
        return count > 0 ? 0 : 1;
    }
    """
)


def openmp_flags(compiler_type):
    """(compile flags, link flags) for OpenMP with this compiler family."""
    if compiler_type == "msvc":
        return ["/openmp"], []
    if sys.platform == "darwin":  # Apple clang: needs libomp (e.g. from Homebrew)
        return ["-Xpreprocessor", "-fopenmp"], ["-lomp"]
    return ["-fopenmp"], ["-fopenmp"]


def probe_openmp(compiler):
    """Compile, link and *run* a tiny OpenMP program; True only if all three work."""
    compile_flags, link_flags = openmp_flags(compiler.compiler_type)
    tmp = tempfile.mkdtemp(prefix="nnfast-omp-probe-")
    cwd = os.getcwd()
    try:
        os.chdir(tmp)
        with open("probe.c", "w") as f:
            f.write(OPENMP_PROBE)
        objects = compiler.compile(["probe.c"], extra_postargs=compile_flags)
        compiler.link_executable(objects, "probe", extra_postargs=link_flags)
        exe = os.path.join(tmp, "probe" + (".exe" if sys.platform == "win32" else ""))
        out = subprocess.run([exe], capture_output=True, text=True, timeout=60)
        return out.returncode == 0 and int(out.stdout.strip() or 0) >= 1
    except Exception:
        return False
    finally:
        os.chdir(cwd)
        shutil.rmtree(tmp, ignore_errors=True)


class BuildExtWithOpenMP(build_ext):
    def build_extensions(self):
        disabled = os.environ.get("NNFAST_DISABLE_OPENMP", "0") == "1"
        has_openmp = not disabled and probe_openmp(self.compiler)
        if has_openmp:
            compile_flags, link_flags = openmp_flags(self.compiler.compiler_type)
        else:
            message = (
                "nnfast: OpenMP disabled by NNFAST_DISABLE_OPENMP=1; building the serial version."
                if disabled else
                "nnfast: OpenMP was not found (the compile+link+run probe failed); building the "
                "serial version. Install an OpenMP runtime (libgomp / libomp) for multithreading."
            )
            if os.environ.get("NNFAST_FAIL_NO_OPENMP", "0") == "1":
                raise RuntimeError(message + " NNFAST_FAIL_NO_OPENMP=1 makes this fatal.")
            print("WARNING: " + message, file=sys.stderr)
            compile_flags, link_flags = [], []
        base = ["/O2"] if self.compiler.compiler_type == "msvc" else ["-O3"]
        if DEBUG and self.compiler.compiler_type != "msvc":
            base = ["-O1", "-g"]
        for ext in self.extensions:
            ext.extra_compile_args = base + compile_flags
            ext.extra_link_args = link_flags
            ext.define_macros = [("NNFAST_BUILT_WITH_OPENMP", "1" if has_openmp else "0"),
                                 ("NNFAST_DEBUG_BUILD", "1" if DEBUG else "0")]
        super().build_extensions()


# The C headers (kernels/_simd.h: the vectorized kernels) are included by the generated C; list them as
# dependencies so that editing one rebuilds the modules.
HEADERS = sorted(glob.glob(os.path.join(SRC, "*", "*.h"))
                 + glob.glob(os.path.join(SRC, "*", "*.pxd")))
extensions = [Extension(f"nnfast.{name}", [os.path.join(SRC, folder, f"{name}.pyx")],
                        include_dirs=INCLUDE, depends=HEADERS)
              for name, folder in MODULES.items()]

setup(
    ext_modules=cythonize(extensions, include_path=INCLUDE, compiler_directives=DIRECTIVES),
    cmdclass={"build_ext": BuildExtWithOpenMP},
)
