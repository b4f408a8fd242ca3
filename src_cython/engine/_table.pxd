# Checks and facts of a layer table (src_cython/layers/_layers.pxd has its columns), for _conv.pyx's
# entry points, run with the GIL before any kernel. Header-only (inline).
from _elementwise cimport ACT_SOFTMAX, ACT_MAXOUT
from _convkern cimport check_geometry, check_pool
from _layers cimport (norm_units, KIND_CONV, KIND_MAXPOOL, KIND_AVGPOOL, KIND_DENSE,
                      KIND_BATCHNORM, S_KIND, S_C, S_H, S_W, S_F, S_OH, S_OW, S_KH, S_KW, S_STRIDE,
                      S_PT, S_PL, S_ACT, S_WOFF, S_BOFF, S_PIECES, S_BN, S_GOFF, S_ROFF,
                      SPEC_COLUMNS, F_EPS, F_MOMENTUM, FPARAM_COLUMNS)


cdef inline int check_table(const Py_ssize_t[:, ::1] spec, const double[:, ::1] fparams,
                            Py_ssize_t n_params, Py_ssize_t n_running) except -1:
    """Refuse a table whose shapes do not chain, whose geometry is impossible, whose parameters
    fall outside params (n_params values) or (n_running >= 0) whose running statistics fall
    outside running (n_running values); -1: running is not read."""
    cdef Py_ssize_t L = spec.shape[0], l, kind, n_in, n_out, count, pieces, units, act
    if (L < 1 or spec.shape[1] != SPEC_COLUMNS or fparams.shape[0] != L
            or fparams.shape[1] != FPARAM_COLUMNS):
        raise ValueError(f"spec must be (L >= 1, {SPEC_COLUMNS}) and fparams (L, {FPARAM_COLUMNS})")
    for l in range(L):
        kind = spec[l, S_KIND]
        act = spec[l, S_ACT]
        pieces = spec[l, S_PIECES]
        if not 0 <= kind <= KIND_BATCHNORM:
            raise ValueError(f"layer {l}: unknown kind {kind}")
        for column in (S_C, S_H, S_W, S_F, S_OH, S_OW):
            if not 1 <= spec[l, column] <= 2147483647:
                raise ValueError(f"layer {l}: shapes must be in [1, 2**31)")
        if not 0 <= act <= ACT_MAXOUT:
            raise ValueError(f"layer {l}: unknown activation code {act}")
        n_in = spec[l, S_C] * spec[l, S_H] * spec[l, S_W]
        n_out = spec[l, S_F] * spec[l, S_OH] * spec[l, S_OW]
        if l > 0 and n_in != spec[l - 1, S_F] * spec[l - 1, S_OH] * spec[l - 1, S_OW]:
            raise ValueError(f"layer {l}: its input size {n_in} is not the previous output's")
        if act == ACT_SOFTMAX and (kind != KIND_DENSE or l != L - 1):
            raise ValueError("softmax is for the last (dense) layer only")
        if (act == ACT_MAXOUT) != (pieces > 1) or not 1 <= pieces <= 65536:
            raise ValueError(f"layer {l}: maxout layers (and only they) have 2 .. 65536 pieces")
        if pieces > 1 and (kind != KIND_DENSE or l == L - 1 or spec[l, S_BN] != 0
                           or n_out * pieces > 2147483647):
            raise ValueError(f"layer {l}: maxout is for hidden dense layers without batch norm")
        if spec[l, S_BN] != 0 and (spec[l, S_BN] != 1 or l == L - 1 or kind not in (
                KIND_CONV, KIND_DENSE, KIND_BATCHNORM)):
            raise ValueError(f"layer {l}: batch norm is for hidden dense, conv and batchnorm layers")
        count = 0
        if kind == KIND_CONV:
            check_geometry(spec[l, S_C], spec[l, S_H], spec[l, S_W], spec[l, S_KH], spec[l, S_KW],
                            spec[l, S_STRIDE], spec[l, S_PT], spec[l, S_PL], spec[l, S_OH],
                            spec[l, S_OW])
            count = spec[l, S_F] * spec[l, S_C] * spec[l, S_KH] * spec[l, S_KW]
        elif kind == KIND_DENSE:
            if spec[l, S_OH] != 1 or spec[l, S_OW] != 1:
                raise ValueError(f"layer {l}: a dense layer's output is flat")
            count = n_out * pieces * n_in
        elif kind == KIND_MAXPOOL or kind == KIND_AVGPOOL:
            # the window's side in S_KH (= S_KW), its step in S_STRIDE
            check_pool(spec[l, S_C], spec[l, S_H], spec[l, S_W], spec[l, S_KH], spec[l, S_STRIDE])
            if (spec[l, S_KW] != spec[l, S_KH] or spec[l, S_F] != spec[l, S_C]
                    or spec[l, S_OH] != (spec[l, S_H] - spec[l, S_KH]) // spec[l, S_STRIDE] + 1
                    or spec[l, S_OW] != (spec[l, S_W] - spec[l, S_KH]) // spec[l, S_STRIDE] + 1):
                raise ValueError(f"layer {l}: the pooled shape does not match the window")
        elif kind == KIND_BATCHNORM:
            if (spec[l, S_BN] != 1 or spec[l, S_F] != spec[l, S_C] or spec[l, S_OH] != spec[l, S_H]
                    or spec[l, S_OW] != spec[l, S_W]):
                raise ValueError(f"layer {l}: a batchnorm layer keeps its input's shape (and has "
                                 "S_BN = 1)")
        elif n_out != n_in:
            raise ValueError(f"layer {l}: flatten and dropout keep the size")
        if count:
            if (spec[l, S_WOFF] < 0 or spec[l, S_BOFF] != spec[l, S_WOFF] + count
                    or spec[l, S_BOFF] + spec[l, S_F] * pieces > n_params):
                raise ValueError(f"layer {l}: its parameters do not fit in params")
        if spec[l, S_BN]:
            units = norm_units(&spec[l, 0])
            if kind != KIND_BATCHNORM and spec[l, S_GOFF] != spec[l, S_BOFF] + spec[l, S_F]:
                raise ValueError(f"layer {l}: gamma and beta must follow the biases")
            if spec[l, S_GOFF] < 0 or spec[l, S_GOFF] + 2 * units > n_params:
                raise ValueError(f"layer {l}: its parameters do not fit in params")
            if n_running >= 0 and (spec[l, S_ROFF] < 0
                                          or spec[l, S_ROFF] + 2 * units > n_running):
                raise ValueError(f"layer {l}: its running statistics do not fit in running")
            if not (0 < fparams[l, F_EPS] < float("inf")) or not 0 <= fparams[l, F_MOMENTUM] < 1:
                raise ValueError(f"layer {l}: batch norm needs eps > 0 and momentum in [0, 1)")
    return 0


cdef inline int require_dense_output(const Py_ssize_t[:, ::1] spec) except -1:
    """A cost (training, evaluation, the cost's gradient) needs a dense output layer; a table
    that ends in another layer is driven by gradients of its outputs only."""
    if spec[spec.shape[0] - 1, S_KIND] != KIND_DENSE:
        raise ValueError("the last layer must be dense for a cost (a table that ends in another "
                         "layer takes grad_output and gives outputs only)")
    return 0




cdef inline bint has_batch_norm(const Py_ssize_t[:, ::1] spec):
    """Whether any layer of the table has batch norm."""
    cdef Py_ssize_t l
    for l in range(spec.shape[0]):
        if spec[l, S_BN]:
            return True
    return False


cdef inline Py_ssize_t row_work(const Py_ssize_t[:, ::1] spec):
    """Multiply-adds of one row's forward pass, about (every layer at least its size)."""
    cdef Py_ssize_t l, n_in, n_out, work = 0
    for l in range(spec.shape[0]):
        n_in = spec[l, S_C] * spec[l, S_H] * spec[l, S_W]
        n_out = spec[l, S_F] * spec[l, S_OH] * spec[l, S_OW]
        if spec[l, S_KIND] == KIND_CONV:
            work += n_out * spec[l, S_C] * spec[l, S_KH] * spec[l, S_KW]
        elif spec[l, S_KIND] == KIND_DENSE:
            work += n_out * spec[l, S_PIECES] * n_in
        else:
            work += n_in
    return work


