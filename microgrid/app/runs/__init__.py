"""The work behind ``microgrid train``, one job per module: ``config`` (what decides a run), ``run``
(the fitting), ``results``, ``learning`` (did it learn anything?), ``report`` (the printed report),
``outputs`` and ``plots`` (the run folder), ``progress`` (the progress display)."""
