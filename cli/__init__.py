"""The `zoo` command line: thin click commands over the zoo, export and serving libraries."""
