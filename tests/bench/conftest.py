import pytest

from nnfast import bench


@pytest.fixture(scope="session")
def tiny_report():
    """One quick run at 200 rows (torch, JAX and sklearn left out: they have their own tests)."""
    return bench.run(profile="quick", threads=(1, 2), skip=("torch", "jax", "sklearn"), rows=200,
                     gemm_size=64, repeats=1)
