"""``shimimg pin``: placeholder until implemented."""
