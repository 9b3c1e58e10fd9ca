"""The audit: where a project stands on the ML Test Score rubric and what ML technical debt it carries,
measured from its own stores, with the evidence and the fix for each finding.

- :mod:`mlfactory.audit.model`: the typed report (tests, findings, sections, score)
- :mod:`mlfactory.audit.rubric`: the rubric's 28 tests, each decided from stored evidence where it can be
- :mod:`mlfactory.audit.debt`: the debt found by looking (data dependencies, feedback loops, pipeline
  jungles, configuration and model debt)
- :mod:`mlfactory.audit.dead`: dead experiments, shared with ``mlfactory prune``
- :mod:`mlfactory.audit.checks`: the checks that train or replay, run on demand and recorded as runs
- :mod:`mlfactory.audit.run`: one audit composed from all of them, stored with its history
"""
