"""Dataset export formats (DESIGN §7).

``jsonl`` writes items.jsonl, groups.jsonl and responses.jsonl; ``parquet``
items.parquet; ``heatmaps`` a PNG per item and label plus NPZ shards; ``pairs``
pairs.json in ImageReward's shape. ``annotator.services.exports`` drives them
and always writes manifest.json. The file layouts are described in
``annotator/exporters/README.md``.
"""
from annotator.exporters.registry import EXPORTERS, exporter_names, formats_clean, register  # noqa: F401

# Importing the format modules registers them.
from annotator.exporters import heatmaps, jsonl, pairs, parquet  # noqa: E402,F401
