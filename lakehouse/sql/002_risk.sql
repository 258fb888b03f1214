-- Risk decisions the stream sent to review or block (approvals stay on Kafka `decisions`).
CREATE TABLE IF NOT EXISTS payments.decisions (
    transaction_id  text PRIMARY KEY,
    user_id         text NOT NULL,
    merchant_id     text,
    amount_eur      numeric(18, 2),
    event_time      timestamptz NOT NULL,
    decided_at      timestamptz NOT NULL,
    risk_score      double precision NOT NULL,
    decision        text NOT NULL CHECK (decision IN ('review', 'block')),
    contributions   jsonb NOT NULL DEFAULT '[]'::jsonb,
    fired           jsonb NOT NULL DEFAULT '[]'::jsonb,
    features        jsonb NOT NULL DEFAULT '{}'::jsonb,
    inserted_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS decisions_score_idx ON payments.decisions (risk_score DESC, decided_at DESC);
CREATE INDEX IF NOT EXISTS decisions_decided_idx ON payments.decisions (decided_at DESC);

-- An analyst's word on a flagged payment; the newest word wins. The analyst role may write
-- only this table. Synced into gold.labels (and Kafka `labels`) when decided_at > synced_at.
CREATE TABLE IF NOT EXISTS payments.alert_dispositions (
    transaction_id  text PRIMARY KEY,
    alert_id        text,
    disposition     text NOT NULL CHECK (disposition IN ('confirmed_fraud', 'false_positive')),
    analyst         text NOT NULL DEFAULT current_user,
    note            text,
    decided_at      timestamptz NOT NULL DEFAULT now(),
    synced_at       timestamptz
);
CREATE INDEX IF NOT EXISTS dispositions_decided_idx ON payments.alert_dispositions (decided_at DESC);
CREATE INDEX IF NOT EXISTS alerts_transaction_idx ON payments.alerts (transaction_id);
