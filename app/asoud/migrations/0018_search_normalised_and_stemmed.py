from tortoise import migrations
from tortoise.migrations import operations as ops

from asoud.catalog.search import CONFIGS, sql_translate_arguments

# The vector holds each word as every configuration makes it (simple keeps it whole, the
# others stem it), from search_text that is already normalised (asoud.catalog.search).
VECTOR = " || ".join(f"to_tsvector('{c}', coalesce(NEW.search_text, ''))" for c in CONFIGS)
FORWARD = f"""
CREATE OR REPLACE FUNCTION catalog_product_search_vector() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_vector := {VECTOR};
    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS catalog_product_search_vector ON catalog_product;
CREATE TRIGGER catalog_product_search_vector BEFORE INSERT OR UPDATE OF search_text
    ON catalog_product FOR EACH ROW EXECUTE FUNCTION catalog_product_search_vector();
"""
BACKWARD = """
DROP TRIGGER IF EXISTS catalog_product_search_vector ON catalog_product;
DROP FUNCTION IF EXISTS catalog_product_search_vector();
CREATE TRIGGER catalog_product_search_vector BEFORE INSERT OR UPDATE OF search_text
    ON catalog_product FOR EACH ROW
    EXECUTE FUNCTION tsvector_update_trigger(search_vector, 'pg_catalog.simple', search_text);
UPDATE catalog_product SET search_text = search_text;
"""


async def normalise_and_reindex(apps, schema_editor):
    client = schema_editor.client
    source, target = sql_translate_arguments()
    if client.capabilities.dialect == "postgres":
        await client.execute_script(FORWARD)
        # rewriting search_text fires the trigger: every vector is rebuilt
        await client.execute_query(
            "UPDATE catalog_product SET search_text = translate(lower(search_text), $1, $2)",
            [source, target],
        )
        return
    # the embedded SQLite has no translate(): its (small) catalogue is rewritten row by row
    from asoud.catalog.search import normalise

    _, rows = await client.execute_query("SELECT id, search_text FROM catalog_product")
    for row in rows:
        await client.execute_query(
            "UPDATE catalog_product SET search_text = ? WHERE id = ?",
            [normalise(row["search_text"] or ""), row["id"]],
        )


async def back_to_simple(apps, schema_editor):
    if schema_editor.client.capabilities.dialect == "postgres":
        await schema_editor.client.execute_script(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("asoud", "0017_review_queue")]

    initial = False

    operations = [
        ops.RunPython(normalise_and_reindex, reverse_code=back_to_simple),
    ]
