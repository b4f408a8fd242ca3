"""Arrays whose data start on a 64-byte boundary (a cache line; an AVX-512 vector).

The compiled kernels load whole vectors; a load that straddles two cache lines costs about twice
as much, and NumPy only promises 16-byte alignment. The parameters and the batch buffers of the
compiled loop are allocated here.
"""

import numpy as np

ALIGNMENT = 64


def aligned_zeros(count, dtype):
    """A zeroed 1-D array of `count` elements of `dtype` starting on a 64-byte boundary.

    It is a view into a slightly larger array (which it keeps alive); it owns no data of its own,
    so code that checks `flags.owndata` must not be given it.
    """
    dtype = np.dtype(dtype)
    raw = np.zeros(count + ALIGNMENT // dtype.itemsize, dtype=dtype)
    skip = (-raw.ctypes.data % ALIGNMENT) // dtype.itemsize
    return raw[skip:skip + count]
