"""Step 5, publish: the written file, its delta files and its manifest, all or none;
then what the previous result left that this one does not have (:mod:`runner.run.supersede`)."""

from __future__ import annotations

from collections.abc import Sequence

from runner.fetch.redact import Redactor
from runner.run.manifest import Manifest
from runner.run.supersede import Earlier
from runner.sinks import Destination, Upload, manifest_display
from runner.sinks.group import publish_group


def publish(
    manifest: Manifest,
    upload: Upload,
    destination: Destination,
    companions: Sequence[Upload],
    scrub: Redactor,
    earlier: Earlier,
) -> str:
    """Publish the file with its delta files (if any), all or none; every text in the
    manifest passes ``scrub``. Then the files of ``earlier`` (read before) that this
    result does not have are removed. Where the manifest was written, as a user would
    type it."""
    result = manifest.result
    metadata = {"rows": str(result.rows), "sha256": result.sha256, "as-of": manifest.as_of}
    document = manifest.to_bytes(scrub.document)
    publish_group(upload, companions, document, metadata)
    earlier.remove_superseded(manifest.document())
    return manifest_display(destination, result.parts)
