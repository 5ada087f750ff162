"""Identity sources (SPEC §3)."""
