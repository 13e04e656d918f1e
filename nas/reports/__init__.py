"""Reports: turn scores and search results into tables and plots."""
