"""The work behind ``microgrid train``, one job per module.

:mod:`~microgrid.app.runs.config` (what decides a run), :mod:`~microgrid.app.runs.run` (fitting, hold-out
and cross-validation runs), :mod:`~microgrid.app.runs.results` (what a run produces),
:mod:`~microgrid.app.runs.learning` (did it learn anything?), :mod:`~microgrid.app.runs.report` (the
printed report), :mod:`~microgrid.app.runs.outputs` and :mod:`~microgrid.app.runs.plots` (the run folder),
:mod:`~microgrid.app.runs.progress` (the progress display).  :mod:`microgrid.app.training` gathers the
public names in one place.
"""
