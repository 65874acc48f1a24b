"""What the operator states: the inventory (where things are) and the plan (what changes, and when)."""
