"""The plan: what discovery found, as frozen records (``records``: Plan, Package, Function), and
the one rewrite of a plan before building (``consolidate``: one package per Go module)."""
