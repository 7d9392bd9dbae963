-- tests/eco_sqlx.rs: the table the sqlx test fills.
CREATE TABLE users (
    id SERIAL PRIMARY KEY,
    name TEXT NOT NULL
);
