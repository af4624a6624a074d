"""Getting the input data from its public sources and verifying it file by file (stage ``fetch``).

``manifest`` reads ``data/sources.yaml``; ``http`` downloads one file (resume, retries, refusal of
HTML pages); ``place`` copies, links or extracts verified files into place.
"""
