"""The audit's on-demand checks: each trains or replays on the project's own data and models, and is recorded
as a run (see :mod:`mlfactory.audit.recorded`), so the rubric reads its newest result instead of training
again. None registers a version or moves an alias.

- ``data.feature_importance`` (:mod:`.importance`): input columns that add nothing on the holdout
- ``model.simpler_baseline`` (:mod:`.baseline`): a simpler model as good as production
- ``model.staleness`` (:mod:`.staleness`): decay per day of model age against the retrain schedule
- ``infra.reproducible`` (:mod:`.reproducible`): two seeded fits that answer differently
- ``model.slices`` (:mod:`.slices`): declared segments where the model is worse than overall
- ``infra.single_example`` (:mod:`.single`): one logged prediction replayed step by step
"""

from mlfactory.audit.checks.base import OnDemandCheck, Target
from mlfactory.audit.checks.catalog import CHECKS, run_checks

__all__ = ["CHECKS", "OnDemandCheck", "Target", "run_checks"]
