-- Mutual TLS (RFC 8705) and token exchange (RFC 8693).
-- tls_subject: JSON {dn, dns, uri, ip, email} of a tls_client_auth client;
-- NULL for other clients. token_exchange: JSON array of {from, to}; NULL
-- means none. act: the JSON act chain {sub, act} of an exchanged token;
-- NULL for every other token.
ALTER TABLE clients ADD COLUMN tls_subject TEXT;
ALTER TABLE clients ADD COLUMN certificate_bound_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN token_exchange TEXT;
ALTER TABLE tokens ADD COLUMN act TEXT;
