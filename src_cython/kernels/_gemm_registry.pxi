# The Python side of this module's table of GEMM kernels per shape (_gemm_table.h), included by
# every compiled module whose loops call _matmul.pxd's matmul. nnfast/_gemm.py fills every module's
# table the same way; nothing else should call these.

def gemm_register(const long long[:, ::1] entries):
    """Add kernels per shape: rows (ta, tb, itemsize, m, n, k, kernel). A shape already in the
    table keeps its first kernel. Returns the number added; ValueError for an invalid row (nothing
    added), RuntimeError when the table is full."""
    cdef Py_ssize_t i, added = 0
    cdef int status
    if entries.shape[0] and entries.shape[1] != 7:
        raise ValueError("entries must have 7 columns: ta, tb, itemsize, m, n, k, kernel")
    for i in range(entries.shape[0]):
        if (entries[i, 0] not in (0, 1) or entries[i, 1] not in (0, 1)
                or entries[i, 2] not in (4, 8) or min(entries[i, 3], entries[i, 4], entries[i, 5]) < 1
                or not 0 <= entries[i, 6] < N_GEMM_KERNELS):
            raise ValueError(f"invalid GEMM table row {list(entries[i])}")
    for i in range(entries.shape[0]):
        status = nnf_gemm_put(<int>entries[i, 0], <int>entries[i, 1], <int>entries[i, 2],
                              entries[i, 3], entries[i, 4], entries[i, 5], <int>entries[i, 6])
        if status < 0:
            raise RuntimeError("the table of GEMM kernels is full")
        added += status == 0
    return added


def gemm_fallback(kernel=None):
    """The kernel of shapes not in the table (-1: the fixed size rule); set it when given."""
    global nnf_gemm_fallback
    if kernel is not None:
        if not -1 <= kernel < N_GEMM_KERNELS:
            raise ValueError(f"kernel must be -1..{N_GEMM_KERNELS - 1}")
        nnf_gemm_fallback = kernel
    return nnf_gemm_fallback


def gemm_own_isa(isa=None):
    """The instance of our kernels the loops run (-1: the best this CPU runs); set it when given."""
    global nnf_gemm_own_isa
    if isa is not None:
        if isa not in (-1, 0, 1, 2):
            raise ValueError("isa must be -1, 0, 1 or 2")
        nnf_gemm_own_isa = isa
    return nnf_gemm_own_isa


def gemm_table_stats():
    """(entries, misses, last missed key (ta, tb, itemsize, m, n, k)): misses count the GEMMs that
    ran on a shape nobody registered."""
    return (nnf_gemm_entries, nnf_gemm_missed,
            tuple(nnf_gemm_last_miss[i] for i in range(6)))


def gemm_clear():
    """Empty the table and the miss count (tests only: no loop may be running)."""
    nnf_gemm_clear()
