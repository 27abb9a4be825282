-- 49_csv_cell.sql: text cells of the CSV exports that a spreadsheet would run as a formula.
-- Names come from providers and from people: one starting with =, +, -, @, a tab or a carriage return is a
-- formula in Excel, LibreOffice and Google Sheets when the CSV is opened (CSV injection). Such a cell gets a
-- leading apostrophe, which spreadsheets show as text and do not display.

CREATE FUNCTION aispend.csv_cell(value text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE WHEN pg_catalog."left"(value, 1) IN ('=', '+', '-', '@', E'\t', E'\r') THEN '''' || value ELSE value END;
COMMENT ON FUNCTION aispend.csv_cell(text) IS
    'A text cell safe to open in a spreadsheet: a value starting with =, +, -, @, tab or CR gets a leading '
    'apostrophe (never run as a formula). Every *_csv function applies it to names; use it in your own exports.';
