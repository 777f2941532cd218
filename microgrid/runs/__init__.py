"""The work behind ``microgrid train``, one job per module.

:mod:`~microgrid.runs.config` (what decides a run), :mod:`~microgrid.runs.run` (fitting, hold-out
and cross-validation runs), :mod:`~microgrid.runs.results` (what a run produces),
:mod:`~microgrid.runs.learning` (did it learn anything?), :mod:`~microgrid.runs.report` (the
printed report), :mod:`~microgrid.runs.outputs` and :mod:`~microgrid.runs.plots` (the run folder),
:mod:`~microgrid.runs.progress` (the progress display).  :mod:`microgrid.training` gathers the
public names in one place.
"""
