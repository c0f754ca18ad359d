"""Local stand-ins for the national services, speaking their real protocols on loopback."""
