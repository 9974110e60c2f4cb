"""Ingestion: read a school's termly file or an NCCIS destinations file, map its columns, validate it against
the spec (pandera) and store it in one transaction, telling the school exactly what to fix."""

from riskengine.upload.batch import BatchResult, load_destination_paths, load_paths
from riskengine.upload.destinations import load_destinations, load_destinations_bytes, read_destinations_file
from riskengine.upload.mapping import ColumnMapping, load_mapping, shipped_mappings
from riskengine.upload.parsing import InvalidFile
from riskengine.upload.problems import UploadResult
from riskengine.upload.pupil_terms import read_pupil_file, upload_bytes, upload_file

__all__ = [
    "BatchResult",
    "ColumnMapping",
    "InvalidFile",
    "UploadResult",
    "load_destination_paths",
    "load_destinations",
    "load_destinations_bytes",
    "load_mapping",
    "load_paths",
    "read_destinations_file",
    "read_pupil_file",
    "shipped_mappings",
    "upload_bytes",
    "upload_file",
]
