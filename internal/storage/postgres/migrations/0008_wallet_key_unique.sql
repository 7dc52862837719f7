-- One account key per network serves one store: two stores deriving from
-- the same key would hand out the same deposit addresses. The key is
-- identified by its BIP32 fingerprint, so the xpub and zpub forms of one
-- key count as the same key.
CREATE UNIQUE INDEX wallets_network_fingerprint_key ON wallets (network, fingerprint);
