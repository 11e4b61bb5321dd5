"""Report 004: the dense autoencoder for 28×28 greyscale images (MNIST, Fashion-MNIST)."""
