-- Placeholder for the migration numbered 0020 on another branch, so this
-- branch migrates without a gap (the loader refuses gaps). Deleted at merge.
SELECT 1;
