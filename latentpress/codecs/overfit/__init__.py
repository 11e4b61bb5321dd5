"""The per-image ("overfitted") neural codec: latent grids + a tiny decoder in the file."""
