"""Local invoke: a function's image run under the Lambda Runtime Interface Emulator.

``rie`` is the only module that runs containers for invoke (through the docker SDK);
``client`` speaks to the emulator over HTTP, ``output`` reads what it logs, ``values`` and
``envvars`` compute what Lambda would set in the function's environment (and what SAM's
``env.json`` overrides)."""
