"""The message search index (PostgreSQL backend, see search/backends/postgres.py).

Extensions: `unaccent` and `pg_trgm` are "trusted" extensions (PostgreSQL 13+), so the
database's owner may create them without being a superuser; the role of
scripts/services.sh (initdb -U slackclone) and of docker-compose's official image
(POSTGRES_USER) is a superuser anyway. The table is created empty (new in this
migration), so its indexes need not be built concurrently; `manage.py search_reindex`
fills it from MongoDB.
"""

from django.db import migrations

SQL = r"""
CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- unaccent(regdictionary, text) is only STABLE (the dictionary could change); this
-- wrapper names the dictionary explicitly, which is what makes IMMUTABLE honest enough
-- for generated columns and expression indexes (the usual PostgreSQL idiom).
CREATE OR REPLACE FUNCTION search_unaccent(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN public.unaccent('public.unaccent'::regdictionary, $1);

-- Case- and accent-folded text: what substring (trigram) matching runs on.
CREATE OR REPLACE FUNCTION search_fold(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN lower(search_unaccent($1));

-- No stemming, no stop words (chat is multilingual); unaccent then lower-case.
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_ts_config WHERE cfgname = 'slackclone_search') THEN
        CREATE TEXT SEARCH CONFIGURATION slackclone_search (COPY = pg_catalog.simple);
        ALTER TEXT SEARCH CONFIGURATION slackclone_search
            ALTER MAPPING FOR asciiword, asciihword, hword_asciipart, word, hword, hword_part, numword, numhword,
                              hword_numpart, host, url, url_path, file, version, email
            WITH public.unaccent, pg_catalog.simple;
    END IF;
END $$;

-- The words of a message: the parser's tokens (hosts, URLs, versions, hyphenated words
-- and their parts), plus every run of letters and digits on its own (so `path` finds
-- https://x.org/path, `case` finds snake_case, `2` finds v1.2.3).
CREATE OR REPLACE FUNCTION search_vector(text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN to_tsvector('public.slackclone_search'::regconfig, $1)
        || to_tsvector('public.slackclone_search'::regconfig, regexp_replace($1, '[^[:alnum:]]+', ' ', 'g'));

CREATE TABLE search_entries (
    message_id varchar(24) PRIMARY KEY,
    workspace_id uuid,
    kind varchar(8) NOT NULL,
    conversation_id uuid NOT NULL,
    seq bigint NOT NULL,
    sender_id uuid,
    type varchar(8) NOT NULL,
    created_at timestamptz NOT NULL,
    deleted_at timestamptz,
    content text NOT NULL,
    folded text GENERATED ALWAYS AS (search_fold(content)) STORED,
    vector tsvector GENERATED ALWAYS AS (search_vector(content)) STORED,
    has_link boolean NOT NULL DEFAULT false,
    has_file boolean NOT NULL DEFAULT false,
    has_pin boolean NOT NULL DEFAULT false,
    is_thread boolean NOT NULL DEFAULT false
);
CREATE INDEX search_entries_vector ON search_entries USING gin (vector);
CREATE INDEX search_entries_folded_trgm ON search_entries USING gin (folded gin_trgm_ops);
CREATE INDEX search_entries_conversation_recent ON search_entries (conversation_id, created_at DESC, message_id DESC);
CREATE INDEX search_entries_workspace_recent ON search_entries (workspace_id, created_at DESC, message_id DESC);
-- Reindex progress (manage.py search_reindex): the last message id done per conversation.
CREATE TABLE search_reindex_progress (
    conversation_id uuid PRIMARY KEY,
    kind varchar(8) NOT NULL,
    last_message_id varchar(24),
    done boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now()
);
"""

REVERSE = """
DROP TABLE IF EXISTS search_reindex_progress;
DROP TABLE IF EXISTS search_entries;
DROP FUNCTION IF EXISTS search_vector(text);
DROP TEXT SEARCH CONFIGURATION IF EXISTS slackclone_search;
DROP FUNCTION IF EXISTS search_fold(text);
DROP FUNCTION IF EXISTS search_unaccent(text);
"""


class Migration(migrations.Migration):
    initial = True
    dependencies: list = []
    operations = [migrations.RunSQL(SQL, REVERSE)]
