"""Write operations of the annotator app (``<noun>_<verb>``, keyword-only, typed)."""
