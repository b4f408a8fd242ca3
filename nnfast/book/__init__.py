"""The API of Michael Nielsen's book "Neural Networks and Deep Learning", trained by nnfast.

Swap one import and keep the book's code::

    # import mnist_loader, network, network2
    from nnfast.book import mnist_loader, network, network2

    training_data, validation_data, test_data = mnist_loader.load_data_wrapper()
    net = network.Network([784, 30, 10])
    net.SGD(training_data, 30, 10, 3.0, test_data=test_data)

- `nnfast.book.network`: chapter 1's ``Network(sizes)`` (quadratic cost, N(0, 1) weights and
  biases) with ``feedforward``, ``SGD``, ``evaluate``;
- `nnfast.book.network2`: chapter 3's ``Network(sizes, cost=CrossEntropyCost)`` with the two cost
  classes, the two weight initializers, L2 regularisation, the four monitors, ``save`` and ``load``;
- `nnfast.book.mnist_loader`: ``load_data`` and ``load_data_wrapper`` in the book's formats, read
  from the four standard MNIST idx files, or, where they are not all present, from the book's
  ``mnist.pkl.gz`` through a restricted unpickler that builds NumPy arrays only and refuses any
  other global; the idx files are downloaded into the default directory when it holds neither.

Each book network keeps the book's ``sizes``, ``num_layers``, ``weights`` and ``biases`` (lists of
arrays, biases as ``(n, 1)`` columns) and does its work on an internal `nnfast.Network`: the
epochs run in compiled code, not example by example in Python. Every module's docstring lists
what differs from the book (randomness first: the book's global ``random``/``np.random`` state is
not used; pass ``seed=`` instead).
"""

__all__ = ["mnist_loader", "network", "network2"]
