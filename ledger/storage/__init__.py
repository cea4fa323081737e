"""Storage: the interfaces (`base`), one module per backend (`sqlite`, `postgres`) and the
factory that chooses the backend once (`factory`)."""
