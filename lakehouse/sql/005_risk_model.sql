-- The learned risk model's part in a flagged decision: which version scored it, its fraud
-- probability and the features that raised it most (null when no model was live).
ALTER TABLE payments.decisions ADD COLUMN IF NOT EXISTS model_version integer;
ALTER TABLE payments.decisions ADD COLUMN IF NOT EXISTS model_score double precision;
ALTER TABLE payments.decisions ADD COLUMN IF NOT EXISTS model_reasons jsonb;
