"""Business rules of the three account systems: pure state, decisions and effects."""
