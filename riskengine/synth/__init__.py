"""Synthetic English local authorities for tests, demos and benchmarks (sources: `synth.generator`).

`generate(...)` returns a `SyntheticLA` (canonical pupil-terms, destinations and the true risk);
`write_uploads` / `write_destinations` write them as schools and the NCCIS system would hand them over.
"""

from riskengine.synth.files import write_destinations, write_uploads
from riskengine.synth.generator import SyntheticLA, demo_la, generate

__all__ = ["SyntheticLA", "demo_la", "generate", "write_destinations", "write_uploads"]
