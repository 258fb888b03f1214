-- Schema `payments`: the operational mirror of the lakehouse that the dashboard reads.
CREATE SCHEMA IF NOT EXISTS payments;

-- One row per alert; alert_id is deterministic, so every sink upserts idempotently.
CREATE TABLE IF NOT EXISTS payments.alerts (
    alert_id        text PRIMARY KEY,
    rule_id         text NOT NULL,
    severity        text NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    transaction_id  text,
    user_id         text NOT NULL,
    merchant_id     text,
    amount_eur      numeric(18, 2),
    event_time      timestamptz NOT NULL,
    detected_at     timestamptz NOT NULL,
    details         jsonb NOT NULL DEFAULT '{}'::jsonb,
    inserted_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS alerts_detected_at_idx ON payments.alerts (detected_at DESC);
CREATE INDEX IF NOT EXISTS alerts_rule_detected_idx ON payments.alerts (rule_id, detected_at DESC);
CREATE INDEX IF NOT EXISTS alerts_user_detected_idx ON payments.alerts (user_id, detected_at DESC);
CREATE INDEX IF NOT EXISTS alerts_merchant_detected_idx ON payments.alerts (merchant_id, detected_at DESC);

-- One row per micro-batch per layer.
CREATE TABLE IF NOT EXISTS payments.pipeline_metrics (
    id                    bigserial PRIMARY KEY,
    recorded_at           timestamptz NOT NULL DEFAULT now(),
    layer                 text NOT NULL,
    batch_id              bigint NOT NULL,
    rows_in               bigint NOT NULL DEFAULT 0,
    rows_out              bigint NOT NULL DEFAULT 0,
    duration_ms           double precision,
    lag_records           bigint,
    alert_latency_p50_ms  double precision,
    alert_latency_p99_ms  double precision,
    details               jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS pipeline_metrics_layer_time_idx
    ON payments.pipeline_metrics (layer, recorded_at DESC);

-- One row per Great Expectations suite run.
CREATE TABLE IF NOT EXISTS payments.dq_results (
    id                      bigserial PRIMARY KEY,
    run_id                  text NOT NULL,
    suite                   text NOT NULL,
    success                 boolean NOT NULL,
    expectations_evaluated  integer NOT NULL,
    expectations_failed     integer NOT NULL,
    docs_url                text,
    run_at                  timestamptz NOT NULL DEFAULT now(),
    details                 jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS dq_results_suite_time_idx ON payments.dq_results (suite, run_at DESC);

-- One row per report date, mirrored from gold.daily_report.
CREATE TABLE IF NOT EXISTS payments.daily_reports (
    report_date   date PRIMARY KEY,
    report        jsonb NOT NULL,
    generated_at  timestamptz NOT NULL DEFAULT now()
);
