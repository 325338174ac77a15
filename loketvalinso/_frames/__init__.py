"""Raw page bytes → typed Polars DataFrames: ``spec`` (a resource version's schema and plan) and
``parse`` (the fast fixed-schema path and the slow path for undeclared fields). No I/O, no
threads, no cache: the load layer decides where and when a page is parsed."""
