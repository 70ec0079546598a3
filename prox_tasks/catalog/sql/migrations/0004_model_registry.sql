-- Which registry a model was published to, and when it was promoted there: each registry
-- promotes its own model, so a promotion in one registry no longer unmarks another's.

ALTER TABLE models ADD COLUMN registry TEXT;
ALTER TABLE models ADD COLUMN promoted_at TEXT;
