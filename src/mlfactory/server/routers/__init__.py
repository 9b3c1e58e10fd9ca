"""One router per area: native v1, Open Inference Protocol V2, MLflow scoring, health, admin."""
