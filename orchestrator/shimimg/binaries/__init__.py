"""Gathering each package's binaries: compiled from source (through ``gobuild``) or taken from
a zip or folder the old build chain made (``prebuilt``), checked as Lambda would run them (``elf``),
judged by the aws-lambda-go they link (``buildinfo``, ``lambdalib``), with the data files the old
zip carried or the user includes (``datafiles``). ``gather`` is the stage's entry point."""
