"""Step 5, publish: the written file, its delta files and its manifest, all or none."""

from __future__ import annotations

from collections.abc import Sequence

from runner.fetch.redact import Redactor
from runner.run.manifest import Manifest
from runner.sinks import Destination, Upload, manifest_display
from runner.sinks.group import publish_group
from runner.sinks.parts import remove_old_set


def publish(
    manifest: Manifest,
    upload: Upload,
    destination: Destination,
    companions: Sequence[Upload],
    scrub: Redactor,
) -> str:
    """Publish the file with its delta files (if any), all or none; every text in the
    manifest passes ``scrub``. Where the manifest was written, as a user would type it."""
    result = manifest.result
    metadata = {"rows": str(result.rows), "sha256": result.sha256, "as-of": manifest.as_of}
    document = manifest.to_bytes(scrub.document)
    publish_group(upload, companions, document, metadata)
    remove_old_set(destination)  # one file where a set was (split turned off)
    return manifest_display(destination, result.parts)
