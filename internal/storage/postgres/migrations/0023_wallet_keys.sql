-- Each account key a store's wallet held, with the index it resumes at.
-- A key new to a store starts at index 0 (the wallet restored from it
-- scans from 0 with a gap limit of 20); a key the store held before
-- resumes past the highest index it handed out under that key, recorded
-- here when the key is retired (ReplaceWalletKey), so no address is
-- handed out twice. The wallets row holds the current key's counter.
CREATE TABLE wallet_keys (
	store_id TEXT COLLATE "C" NOT NULL REFERENCES stores (id),
	network TEXT NOT NULL,
	fingerprint TEXT NOT NULL,
	next_index BIGINT NOT NULL,
	CONSTRAINT wallet_keys_pkey PRIMARY KEY (store_id, network, fingerprint)
);

-- key_generation counts the wallet's key replacements. A block of indexes
-- is reserved with it, so a process holding blocks of several keys (one
-- replaced meanwhile, on this or another instance) knows which is newer
-- and drops the older ones.
ALTER TABLE wallets ADD COLUMN key_generation BIGINT NOT NULL DEFAULT 0;

-- Keys retired before this migration shared the wallet's one counter, so
-- every index they used is below the wallet's next_index now: they resume
-- there, never at an index they used. (Their retirements are in the audit
-- log, wallet_key.retired, one per replaced key.)
INSERT INTO wallet_keys (store_id, network, fingerprint, next_index)
SELECT w.store_id, w.network, a.details::jsonb ->> 'fingerprint', w.next_index
FROM audit_log a
JOIN wallets w ON w.store_id = a.details::jsonb ->> 'store' AND w.network = a.details::jsonb ->> 'network'
WHERE a.action = 'wallet_key.retired' AND a.store_id = ''
ON CONFLICT DO NOTHING;
