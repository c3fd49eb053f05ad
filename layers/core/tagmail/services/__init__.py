"""Use cases. They take typed commands and ports, and know no event source and no SDK."""
