"""Training loops: the per-image fitting the encoders of overfit, lossless, mlp-lossless,
the block codecs and cnn-ae-ft call, and the training of the shipped weights (not
needed to decode)."""
