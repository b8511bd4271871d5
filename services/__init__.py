"""leadflow services."""
