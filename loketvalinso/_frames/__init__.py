"""Raw page bytes → typed Polars DataFrames: ``spec`` (a resource version's schema and plan) and
``parse`` (the fast fixed-schema path; ``extras``: undeclared fields as extra columns). No I/O, no
threads, no cache: the load layer decides where and when a page is parsed."""
