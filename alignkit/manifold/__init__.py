"""Theme 3: generative manifold alignment (notebook 05)."""
