"""The book's chapter-1 and chapter-3 programs, unchanged except for one import line.

    # import mnist_loader, network, network2
    from nnfast.book import mnist_loader, network, network2

Needs the full MNIST: the four idx files in the directory given as second argument, or in
$NNFAST_DATA, or ~/.cache/nnfast (downloaded there, about 11 MB, when absent).

Run: python examples/mnist_book.py [EPOCHS] [MNIST_DIR]   (default 3 epochs; or NNFAST_EXAMPLE_EPOCHS)
"""

import os
import sys

from nnfast.book import mnist_loader, network, network2

epochs = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get("NNFAST_EXAMPLE_EPOCHS", 3))
path = sys.argv[2] if len(sys.argv) > 2 else None

training_data, validation_data, test_data = mnist_loader.load_data_wrapper(path)

print("network.py: [784, 30, 10], quadratic cost, eta 3.0 (chapter 1)")
net = network.Network([784, 30, 10], seed=0)
net.SGD(training_data, epochs, 10, 3.0, test_data=test_data)

print("network2.py: cross-entropy, L2 lmbda 5.0 (chapter 3)")
net = network2.Network([784, 30, 10], cost=network2.CrossEntropyCost, seed=0)
evaluation_cost, evaluation_accuracy, training_cost, training_accuracy = net.SGD(
    training_data, epochs, 10, 0.5, lmbda=5.0, evaluation_data=validation_data,
    monitor_evaluation_accuracy=True)
print(f"validation accuracy per epoch: {evaluation_accuracy} / {len(validation_data)}")
