"""What every stage asks of a fitted model, below the stages that train, register and serve it: how rows
become predictions and class probabilities (:mod:`mlfactory.estimators.predicting`)."""
