"""What the dashboard tests and their browser fixture share."""

# A zone far from UTC with summer time, so a local/UTC mix-up in the filters shows.
TIMEZONE = "Europe/Berlin"
