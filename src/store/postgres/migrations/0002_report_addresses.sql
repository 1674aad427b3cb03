-- duet schema, version 2 (contract section 7, auto-ban): a report counts
-- toward an auto-ban only from a distinct client address and an identity
-- old enough. The address is kept like users.ip_hash: a salted hash.
-- Reports written before this version have no address (each counts as an
-- address of its own) and count, as they did.
ALTER TABLE reports ADD COLUMN reporter_addr bytea;
ALTER TABLE reports ADD COLUMN counts_for_ban boolean NOT NULL DEFAULT true;
