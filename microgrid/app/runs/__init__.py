"""The work behind ``microgrid train``, one job per module: ``config`` (what decides a run), ``run``
(the fitting and its results), ``report`` (the printed report and its warnings: did it learn
anything?), ``outputs`` (the run folder and its plots), ``progress`` (the progress display)."""
