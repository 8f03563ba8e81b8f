"""``shimimg doctor``: placeholder until implemented."""
