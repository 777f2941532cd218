"""The work behind ``microgrid train``, one job per module: ``config`` (what decides a run), ``run``
(the fitting and its results), ``learning`` (did it learn anything?), ``report`` (the printed
report), ``outputs`` (the run folder and its plots), ``progress`` (the progress display)."""
