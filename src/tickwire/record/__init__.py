"""Recording raw frames with their receive times, reading them back, and replaying them.

``writer`` records a live run (``tickwire run --record``), ``reader`` reads a recording with a
torn-tail-tolerant reader, ``capture`` imports cryptofeed v3 captures, ``replay`` pushes either
through the engine with the recorded times as the clock. The format is in ``format`` and
docs/RECORDING.md.
"""
