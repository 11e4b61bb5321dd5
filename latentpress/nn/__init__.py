"""Neural building blocks shared by the learned codecs."""
