"""Use cases: domain rules + repositories inside the caller's unit of work (never commit here)."""
