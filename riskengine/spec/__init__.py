"""The canonical data contract of ../shared/spec, in one importable place.

Every other module names columns and codes through here, so a field is never spelt two ways.
"""
