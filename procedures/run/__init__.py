"""How a run is held together: its context, lock and journal, the dry run, decisions and live progress."""
