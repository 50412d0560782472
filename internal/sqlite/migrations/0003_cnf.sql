-- Key-bound tokens (RFC 7800 cnf): a token may be bound to a DPoP key
-- (RFC 9449, cnf.jkt) or a client certificate (RFC 8705, cnf.x5t#S256).
-- NULL means unbound, as for every token issued before this migration.
-- An authorization code may be bound to a DPoP key with dpop_jkt
-- (RFC 9449 §10); redeeming it then needs a proof by that key.
ALTER TABLE tokens ADD COLUMN cnf_jkt TEXT;
ALTER TABLE tokens ADD COLUMN cnf_x5t_s256 TEXT;
ALTER TABLE auth_codes ADD COLUMN dpop_jkt TEXT;
-- A client that must use DPoP (RFC 9449 §5.2 dpop_bound_access_tokens).
ALTER TABLE clients ADD COLUMN dpop_bound INTEGER NOT NULL DEFAULT 0;
