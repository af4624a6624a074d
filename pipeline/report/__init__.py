"""The results page of a run (stage ``report``): curves, provenance and the HTML page."""
