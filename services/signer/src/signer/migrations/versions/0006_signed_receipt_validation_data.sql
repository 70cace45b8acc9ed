-- upgrade
-- signed_pdf as uploaded (its SHA-256 is in the evidence), then a DSS update
ALTER TABLE receipt_forms ADD COLUMN signed_pdf_lt bytea;

-- downgrade
ALTER TABLE receipt_forms DROP COLUMN signed_pdf_lt;
