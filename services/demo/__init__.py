"""`make demo`: the whole flow in one command, every record accounted for."""
