"""Copy each item's published_at onto its positions and index (market, state, recency).

The board's "hidden in DE, newest first" then reads one index range in order instead of sorting
every matching item (docs/benchmarks.md). Three steps: add the column nullable, fill it from the
items (one UPDATE, portable SQL), make it required.
"""

from django.db import migrations, models

FILL = """
UPDATE content_position
SET item_published_at = (
    SELECT content_contentitem.published_at FROM content_contentitem
    WHERE content_contentitem.id = content_position.item_id
)
"""


class Migration(migrations.Migration):
    dependencies = [
        ("content", "0003_alter_contentitem_summary"),
    ]

    operations = [
        migrations.AddField(
            model_name="position",
            name="item_published_at",
            field=models.DateTimeField(editable=False, null=True),
        ),
        migrations.RunSQL(FILL, reverse_sql=migrations.RunSQL.noop, elidable=False),
        migrations.AlterField(
            model_name="position",
            name="item_published_at",
            field=models.DateTimeField(editable=False),
        ),
        migrations.RemoveIndex(model_name="position", name="position_market_state_idx"),
        migrations.AddIndex(
            model_name="position",
            index=models.Index(
                fields=["market", "state", "-item_published_at", "-item"],
                name="position_state_recent_idx",
            ),
        ),
    ]
