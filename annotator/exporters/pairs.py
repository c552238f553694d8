"""``pairs``: pairs.json in ImageReward's released shape.

A JSON array of ``{"id", "prompt", "generations", "ranking"}``: ``generations``
are image paths (relative to MEDIA_ROOT), ``ranking`` the rank of each
generation (1 = best, ties share a rank), from the consolidated mean level
of each image over annotators. Groups come first (id: the group name, or
``<name>/<attribute key>`` where a campaign has several ranking attributes),
then side-by-side pairs with a majority (id ``pair-<pair id>``, likewise
suffixed where there are several side-by-side attributes; a tie ranks
both 1, an "unsure" majority gives no entry). ImageReward's training turns
each entry into its strictly ordered pairs and skips ties.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from annotator.exporters.base import Exporter, json_line
from annotator.exporters.flatten import SXS_RANKS, imagereward_entry
from annotator.exporters.registry import register


@register
class PairsExporter(Exporter):
    name = "pairs"
    streams = ("groups",)

    def open(self) -> None:
        self.fh = (self.ctx.out_dir / "pairs.json").open("w", encoding="utf-8", newline="\n")
        self.fh.write("[")
        self.count = 0
        self.ranking_keys = [a["key"] for a in self.ctx.attributes if a["kind"] == "ranking"]
        self.sxs_keys = [a["key"] for a in self.ctx.attributes if a["kind"] == "sxs"]

    @staticmethod
    def _id(base: str, key: str, keys: list[str]) -> str:
        return base if len(keys) == 1 else f"{base}/{key}"

    def _entries(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        generations = [image["image"] for image in record["images"]]
        entries = []
        for key, entry in record["consolidated"].items():
            if entry is None:
                continue
            if record["type"] == "group" and key in self.ranking_keys:
                entries.append(imagereward_entry(id=self._id(record["name"], key, self.ranking_keys), prompt=record["prompt"], generations=generations,
                                                 mean_levels=entry["value"]))
            elif record["type"] == "pair" and key in self.sxs_keys and entry["value"] in SXS_RANKS:
                entries.append({"id": self._id(f"pair-{record['id']}", key, self.sxs_keys), "prompt": record["prompt"],
                                "generations": generations, "ranking": SXS_RANKS[entry["value"]]})
        return [e for e in entries if e is not None]

    def write(self, stream: str, records: Sequence[dict[str, Any]]) -> None:
        for record in records:
            for entry in self._entries(record):
                self.fh.write(("\n" if self.count == 0 else ",\n") + json_line(entry).rstrip("\n"))
                self.count += 1

    def close(self) -> dict[str, int]:
        self.fh.write("\n]\n" if self.count else "]\n")
        self.fh.close()
        return {"pairs_json": self.count}
