"""Command-line programs: ``python -m workbook`` (the report) and ``python -m workbook doctor``."""
