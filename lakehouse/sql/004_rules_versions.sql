-- Each version of the rules file the stream has judged with: its content hash, its text, the
-- file it came from, when it first went live and when it last did (the newest live_from is
-- the active version). Every alert and decision records the version that raised it.
CREATE TABLE IF NOT EXISTS payments.rules_versions (
    rules_version  text PRIMARY KEY,
    rules_text     text NOT NULL,
    source         text NOT NULL,
    first_live     timestamptz NOT NULL DEFAULT now(),
    live_from      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS rules_versions_live_idx ON payments.rules_versions (live_from DESC);
ALTER TABLE payments.alerts ADD COLUMN IF NOT EXISTS rules_version text;
ALTER TABLE payments.decisions ADD COLUMN IF NOT EXISTS rules_version text;
