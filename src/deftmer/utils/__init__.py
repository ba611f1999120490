"""Small shared helpers: atomic file writes, seeding, logging/console."""
