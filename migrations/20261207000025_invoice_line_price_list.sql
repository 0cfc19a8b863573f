-- A usage line rated by a price list says which, so that its rollups are
-- traced to that list's resources only.
ALTER TABLE invoice_lines ADD COLUMN price_list text;
