"""The compiled convolution and pooling kernels (their twins in nnfast._convtwins) against the NumPy reference
(nnfast/reference/conv.py), and hand-worked tiny cases of the reference itself."""

import numpy as np
import pytest

from nnfast import AvgPool2D, Conv2D, MaxPool2D
from nnfast.reference import conv as ref

_conv = pytest.importorskip("nnfast._convtwins")

TOLERANCE = {np.float64: 1e-10, np.float32: 1e-4}
DTYPES = [np.float64, np.float32]
# (in_shape, filters, kernel, stride, padding)
GEOMETRIES = [
    ((1, 3, 3), 1, 2, 1, "valid"),
    ((2, 7, 5), 3, 3, 1, "valid"),
    ((3, 9, 8), 4, (3, 2), 2, "valid"),
    ((2, 7, 7), 3, 3, 1, "same"),
    ((2, 8, 9), 2, 4, 2, "same"),
    ((1, 5, 6), 2, 5, 3, "same"),
    ((3, 11, 11), 5, 5, 1, "valid"),
]


def _geometry_args(built):
    C, H, W = built.in_shape
    kh, kw = built.weight_shape[2:]
    return (C, H, W, kh, kw, built.stride, built.pad_top, built.pad_left, *built.out_shape[1:])


def _close(actual, expected, dtype):
    np.testing.assert_allclose(actual, expected, rtol=TOLERANCE[dtype],
                               atol=TOLERANCE[dtype] * max(1.0, float(np.abs(expected).max())))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("geometry", GEOMETRIES)
@pytest.mark.parametrize("n_threads", [1, 2])
def test_im2col_col2im_and_conv_forward_match_the_reference(geometry, dtype, n_threads):
    in_shape, filters, kernel, stride, padding = geometry
    built = Conv2D(filters, kernel, stride, padding).build(in_shape)
    rng = np.random.default_rng(1)
    m = 3
    X = rng.standard_normal((m, *in_shape)).astype(dtype)
    cols = np.empty((built.fan_in, m * built.out_shape[1] * built.out_shape[2]), dtype=dtype)
    _conv.im2col(X.reshape(m, -1), cols, *_geometry_args(built), n_threads=n_threads)
    np.testing.assert_array_equal(cols, ref.im2col(X, built))  # a gather: exact

    dcols = rng.standard_normal(cols.shape).astype(dtype)
    dX = np.empty((m, int(np.prod(in_shape))), dtype=dtype)
    _conv.col2im(dcols, dX, *_geometry_args(built), n_threads=n_threads)
    _close(dX.reshape(m, *in_shape), ref.col2im(dcols, built, m), dtype)
    # the layer engine's layout: rows longer than m*P, whose ends im2col and col2im leave alone
    wide = np.full((cols.shape[0], cols.shape[1] + 21), 5.0, dtype=dtype)
    _conv.im2col(X.reshape(m, -1), wide, *_geometry_args(built), n_threads=n_threads)
    np.testing.assert_array_equal(wide[:, :cols.shape[1]], cols)
    assert np.all(wide[:, cols.shape[1]:] == 5.0)
    wide[:, :cols.shape[1]] = dcols
    dX_wide = np.empty_like(dX)
    _conv.col2im(wide, dX_wide, *_geometry_args(built), n_threads=n_threads)
    np.testing.assert_array_equal(dX_wide, dX)

    W = rng.standard_normal(built.weight_shape).astype(dtype)
    b = rng.standard_normal(filters).astype(dtype)
    out = np.empty((m, int(np.prod(built.out_shape))), dtype=dtype)
    _conv.conv_forward(X.reshape(m, -1), W.reshape(filters, -1), b, out, *_geometry_args(built),
                       n_threads=n_threads)
    Z, _ = ref.conv_forward(X, W, b, built)
    _close(out.reshape(m, *built.out_shape), Z, dtype)
    # with an activation (ReLU, code 3)
    _conv.conv_forward(X.reshape(m, -1), W.reshape(filters, -1), b, out, *_geometry_args(built),
                       act=3, n_threads=n_threads)
    _close(out.reshape(m, *built.out_shape), np.maximum(Z, 0), dtype)


def test_col2im_is_the_adjoint_of_im2col():
    """<im2col(x), c> == <x, col2im(c)> for any x and c."""
    built = Conv2D(3, 3, 2, "same").build((2, 7, 6))
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 2, 7, 6))
    c = rng.standard_normal((built.fan_in, 4 * built.out_shape[1] * built.out_shape[2]))
    assert np.isclose(np.sum(ref.im2col(x, built) * c), np.sum(x * ref.col2im(c, built, 4)),
                      rtol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,size", [((2, 4, 4), 2), ((3, 7, 5), 2), ((1, 9, 9), 3),
                                        ((2, 5, 6), 1)])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_pooling_kernels_match_the_reference(shape, size, dtype, n_threads):
    rng = np.random.default_rng(3)
    m = 5
    X = rng.standard_normal((m, *shape)).astype(dtype)
    X[0, 0, 0, :2] = 7.0  # a tie in the first window: the first maximum wins
    out_shape = MaxPool2D(size).build(shape).out_shape
    n_out = int(np.prod(out_shape))
    Y = np.empty((m, n_out), dtype=dtype)
    arg = np.empty((m, n_out), dtype=np.intp)
    _conv.maxpool_forward(X.reshape(m, -1), Y, arg, *shape, size, n_threads=n_threads)
    Yr, argr = ref.maxpool_forward(X, size)
    np.testing.assert_array_equal(Y.reshape(Yr.shape), Yr)
    np.testing.assert_array_equal(arg.reshape(argr.shape), argr)

    dY = rng.standard_normal((m, n_out)).astype(dtype)
    dX = np.full((m, int(np.prod(shape))), np.nan, dtype=dtype)
    _conv.maxpool_backward(dY, arg, dX, n_threads=n_threads)
    np.testing.assert_array_equal(dX.reshape(m, *shape),
                                  ref.maxpool_backward(dY.reshape(Yr.shape), argr, shape))

    _conv.avgpool_forward(X.reshape(m, -1), Y, *shape, size, n_threads=n_threads)
    _close(Y.reshape(Yr.shape), ref.avgpool_forward(X, size), dtype)
    _conv.avgpool_backward(dY, dX, *shape, size, n_threads=n_threads)
    _close(dX.reshape(m, *shape), ref.avgpool_backward(dY.reshape(Yr.shape), size, shape), dtype)


# ---------------------------------------------------------------- worked by hand

def test_a_2x2_kernel_on_a_3x3_image_by_hand():
    image = np.array([[1., 2., 3.],
                      [4., 5., 6.],
                      [7., 8., 9.]]).reshape(1, 1, 3, 3)
    kernel = np.array([[1., 0.],
                       [0., -1.]]).reshape(1, 1, 2, 2)
    built = Conv2D(1, 2).build((1, 3, 3))
    # each output is x[y, x] - x[y+1, x+1] = -4, plus the bias 0.5
    expected = np.full((1, 1, 2, 2), -3.5)
    Z, _ = ref.conv_forward(image, kernel, np.array([0.5]), built)
    np.testing.assert_array_equal(Z, expected)
    out = np.empty((1, 4))
    _conv.conv_forward(image.reshape(1, -1), kernel.reshape(1, -1), np.array([0.5]), out,
                       *_geometry_args(built))
    np.testing.assert_array_equal(out.reshape(1, 1, 2, 2), expected)
    # backward with dZ = 1 everywhere: dW[i, j] = sum of the 2x2 block at (i, j); db = 4;
    # dX = how many windows cover each pixel, times the kernel entry
    _, cols = ref.conv_forward(image, kernel, np.array([0.5]), built)
    dX, dW, db = ref.conv_backward(np.ones((1, 1, 2, 2)), cols, kernel, built)
    np.testing.assert_array_equal(dW.reshape(2, 2), [[12., 16.], [24., 28.]])
    assert db.tolist() == [4.0]
    np.testing.assert_array_equal(dX.reshape(3, 3), [[1., 1., 0.], [1., 0., -1.], [0., -1., -1.]])


def test_same_padding_and_stride_by_hand():
    """3x3 input, 3x3 kernel of ones, 'same', stride 2: out 2x2, padding 1 on each side; each output
    is the sum of the pixels its window covers."""
    built = Conv2D(1, 3, stride=2, padding="same").build((1, 3, 3))
    assert built.out_shape == (1, 2, 2) and (built.pad_top, built.pad_left) == (1, 1)
    image = np.arange(1., 10.).reshape(1, 1, 3, 3)
    Z, _ = ref.conv_forward(image, np.ones((1, 1, 3, 3)), np.zeros(1), built)
    np.testing.assert_array_equal(Z.reshape(2, 2), [[1 + 2 + 4 + 5, 2 + 3 + 5 + 6],
                                                    [4 + 5 + 7 + 8, 5 + 6 + 8 + 9]])
    # even kernel 'same' (TensorFlow's rule): 4x4 input, 2x2 kernel, stride 1 -> pad 0 top, 1 bottom
    built = Conv2D(1, 2, padding="same").build((1, 4, 4))
    assert built.out_shape == (1, 4, 4) and (built.pad_top, built.pad_left) == (0, 0)


def test_max_pool_ties_and_gradient_by_hand():
    X = np.array([[5., 5., 1., 2.],
                  [0., 5., 3., 3.],
                  [-1., -2., 0., 0.],
                  [-3., -1., 0., 0.]]).reshape(1, 1, 4, 4)
    Y, arg = ref.maxpool_forward(X, 2)
    np.testing.assert_array_equal(Y.reshape(2, 2), [[5., 3.], [-1., 0.]])
    np.testing.assert_array_equal(arg.reshape(2, 2), [[0, 6], [8, 10]])  # first maxima
    dX = ref.maxpool_backward(np.array([[[[1., 2.], [3., 4.]]]]), arg, (1, 4, 4))
    expected = np.zeros((4, 4))
    expected[0, 0], expected[1, 2], expected[2, 0], expected[2, 2] = 1, 2, 3, 4
    np.testing.assert_array_equal(dX.reshape(4, 4), expected)
    Yc, argc = np.empty((1, 4)), np.empty((1, 4), dtype=np.intp)
    _conv.maxpool_forward(X.reshape(1, -1), Yc, argc, 1, 4, 4, 2)
    np.testing.assert_array_equal(argc.ravel(), [0, 6, 8, 10])


def test_avg_pool_by_hand_ignores_the_cropped_border():
    X = np.arange(25.).reshape(1, 1, 5, 5)
    Y = ref.avgpool_forward(X, 2)
    np.testing.assert_array_equal(Y.reshape(2, 2), [[3., 5.], [13., 15.]])
    dX = ref.avgpool_backward(np.ones((1, 1, 2, 2)), 2, (1, 5, 5)).reshape(5, 5)
    assert np.all(dX[:4, :4] == 0.25) and np.all(dX[4, :] == 0) and np.all(dX[:, 4] == 0)
    assert AvgPool2D(2).build((1, 5, 5)).out_shape == (1, 2, 2)


def test_kernel_twins_refuse_wrong_shapes():
    X = np.zeros((2, 9))
    with pytest.raises(ValueError, match="cols"):
        _conv.im2col(X, np.zeros((4, 7)), 1, 3, 3, 2, 2, 1, 0, 0, 2, 2)
    with pytest.raises(ValueError, match="geometry"):
        _conv.im2col(X, np.zeros((4, 8)), 1, 3, 3, 2, 2, 0, 0, 0, 2, 2)
    with pytest.raises(ValueError, match="argmax"):
        _conv.maxpool_backward(np.zeros((2, 1)), np.array([[9], [0]], dtype=np.intp), np.zeros((2, 9)))
    with pytest.raises(ValueError, match="window"):
        _conv.maxpool_forward(X, np.zeros((2, 1)), np.zeros((2, 1), dtype=np.intp), 1, 3, 3, 4)


# ---------------------------------------------------------------- convolution and max pool, fused

# (F, H, W, size, stride): the 2x2 kernel (even and cropped planes, rows longer and shorter than
# its 4 windows at a time), and the general loop (3x3, a stride larger than the window)
FUSED_SHAPES = [(3, 8, 8, 2, 2), (2, 7, 11, 2, 2), (4, 24, 24, 2, 2), (2, 5, 3, 2, 2),
                (3, 9, 7, 3, 3), (2, 8, 9, 2, 3), (1, 6, 6, 1, 1)]
EXACT_ACTIVATIONS = ["relu", "identity", "leaky_relu", "step"]  # the same float operations as C


def _activated(Zt, b, F, m, H, W, act):
    """The convolution's output (m, F, H, W) = sigma(Zt + b), Zt (F, m*H*W)."""
    Z = Zt.reshape(F, m, H, W).transpose(1, 0, 2, 3) + b[None, :, None, None]
    return act.function(Z).astype(Zt.dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", FUSED_SHAPES)
@pytest.mark.parametrize("act_name", EXACT_ACTIVATIONS + ["tanh", "sigmoid", "elu", "softplus"])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_conv_pool_forward_and_pool_conv_delta_match_the_reference(shape, act_name, dtype,
                                                                    n_threads):
    """The fused kernels against NumPy: max pool of sigma(Zt + b) (values and first maxima), and
    the convolution's dC/dz = maxpool_backward(dY) * sigma'(a) in the layout of Zt."""
    from nnfast.activations import get_activation

    act = get_activation(act_name)
    F, H, W, size, stride = shape
    rng = np.random.default_rng(4)
    m = 3
    Zt = rng.standard_normal((F, m * H * W)).astype(dtype)
    Zt[:, :H * W // 3] = np.round(Zt[:, :H * W // 3])  # ties (and, after ReLU, windows of zeros)
    b = rng.standard_normal(F).astype(dtype)
    A = _activated(Zt, b, F, m, H, W, act)
    Yr, argr = ref.maxpool_forward(A, size, stride)
    n_out = Yr[0].size
    Y = np.full((m, n_out), np.nan, dtype=dtype)
    arg = np.full((m, n_out), -1, dtype=np.intp)
    _conv.conv_pool_forward(Zt, b, Y, arg, H, W, size, stride, act=act.code, param=act.param,
                            n_threads=n_threads)
    if act_name in EXACT_ACTIVATIONS:
        np.testing.assert_array_equal(Y, Yr.reshape(m, -1))
        np.testing.assert_array_equal(arg, argr.reshape(m, -1))
    else:  # exp/tanh may round differently: the maxima agree, and the chosen element is one
        _close(Y, Yr.reshape(m, -1), dtype)
        _close(np.take_along_axis(A.reshape(m, -1), arg, axis=1), Yr.reshape(m, -1), dtype)

    dY = rng.standard_normal((m, n_out)).astype(dtype)
    Dt = np.full((F, m * H * W), np.nan, dtype=dtype)
    _conv.pool_conv_delta(dY, Y, arg, Dt, H, W, size, stride, act=act.code, param=act.param,
                          n_threads=n_threads)
    A_at = np.zeros((m, F * H * W), dtype=dtype)  # sigma(z) where the gradient goes (Y there)
    np.put_along_axis(A_at, arg, Y, axis=1)
    D = ref.maxpool_backward(dY.reshape(Yr.shape), arg.reshape(Yr.shape), (F, H, W))
    D = D * act.derivative(A_at.reshape(m, F, H, W))
    _close(Dt, D.transpose(1, 0, 2, 3).reshape(F, -1), dtype)


def test_fused_kernels_refuse_overlapping_windows_and_foreign_indices():
    Zt = np.zeros((2, 2 * 16))
    with pytest.raises(ValueError, match="overlap"):
        _conv.conv_pool_forward(Zt, np.zeros(2), np.zeros((2, 2 * 9)),
                                np.zeros((2, 2 * 9), dtype=np.intp), 4, 4, 2, 1)
    arg = np.zeros((2, 2 * 4), dtype=np.intp)  # each maximum must lie in its own window
    with pytest.raises(ValueError, match="window"):
        _conv.pool_conv_delta(np.zeros((2, 8)), np.zeros((2, 8)), arg, Zt.copy(), 4, 4, 2)
