-- tests/eco_sqlx.rs: which ringcore core wrote the row.
ALTER TABLE users ADD COLUMN core INTEGER NOT NULL DEFAULT 0;
