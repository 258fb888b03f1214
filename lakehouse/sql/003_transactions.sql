-- Every silver payment, for psql and the dashboard's payment search. Range-partitioned by
-- event day: the lake query creates a day's partition before its first rows (one
-- `transactions_YYYYMMDD` table per day) and the maintenance DAG drops whole partitions
-- older than postgres.transactions_retention_days, never row by row. Silver holds each
-- transaction_id once with one event_date, so the key makes every write idempotent.
CREATE TABLE IF NOT EXISTS payments.transactions (
    transaction_id     text NOT NULL,
    event_date         date NOT NULL,
    event_time         timestamptz NOT NULL,
    user_id            text NOT NULL,
    card_id            text NOT NULL,
    amount             numeric(18, 2) NOT NULL,
    currency           text NOT NULL,
    amount_eur         numeric(18, 2) NOT NULL,
    merchant_id        text NOT NULL,
    merchant_category  text NOT NULL,
    country            text,
    city               text,
    lat                double precision,
    lon                double precision,
    channel            text,
    kafka_timestamp    timestamptz,
    inserted_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (transaction_id, event_date)
) PARTITION BY RANGE (event_date);
CREATE INDEX IF NOT EXISTS transactions_user_time_idx
    ON payments.transactions (user_id, event_time DESC);
CREATE INDEX IF NOT EXISTS transactions_merchant_time_idx
    ON payments.transactions (merchant_id, event_time DESC);
CREATE INDEX IF NOT EXISTS transactions_id_idx ON payments.transactions (transaction_id);
