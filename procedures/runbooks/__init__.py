"""The manual's procedures, one module each: what to do, in which order, and how to undo it."""
