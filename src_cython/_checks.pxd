# Checks shared by the compiled entry points (_train.pyx, _conv.pyx), run before they release the
# GIL. Header-only (inline), like the other .pxd files.


cdef inline int check_targets(Py_ssize_t n_rows, Py_ssize_t n_out, Py_ssize_t t_rows,
                              Py_ssize_t t_cols, const Py_ssize_t[::1] labels) except -1:
    """Targets are either dense (n_rows, n_out) rows, or labels (n_rows,) in range: 0..n_out-1,
    or 0..1 for one output unit."""
    cdef Py_ssize_t i, n_classes = 2 if n_out == 1 else n_out
    if labels.shape[0] > 0:
        if labels.shape[0] != n_rows or t_rows != 0:
            raise ValueError("labels must have one entry per row of X (and no dense targets)")
        for i in range(n_rows):
            if labels[i] < 0 or labels[i] >= n_classes:
                raise ValueError(f"label {labels[i]} at row {i} is outside [0, {n_classes})")
    elif t_rows != n_rows or t_cols != n_out:
        raise ValueError(f"targets must be ({n_rows}, {n_out}), got ({t_rows}, {t_cols})")
    return 0
