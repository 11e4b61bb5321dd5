"""Entropy coding on constriction's range coder.

- :mod:`~latentpress.entropy.tables`: quantized Laplace/Gaussian/logistic tables and
  the snapping of (mean, scale) to them — the deterministic path.
- :mod:`~latentpress.entropy.coder`: :class:`EntropyEncoder` / :class:`EntropyDecoder`.
- :mod:`~latentpress.entropy.factorized`: per-channel priors stored in the file.
- :mod:`~latentpress.entropy.integer_tensors`: integer tensors under per-file priors
  (network weights, codes, latent channels).
- :mod:`~latentpress.entropy.huffman`: canonical Huffman coding (the baseline of report 001's
  lossless predictive coder).
"""

from latentpress.entropy.coder import EntropyDecoder, EntropyEncoder
from latentpress.entropy.factorized import FactorizedPrior
from latentpress.entropy.tables import Family, snap

__all__ = ["EntropyDecoder", "EntropyEncoder", "FactorizedPrior", "Family", "snap"]
