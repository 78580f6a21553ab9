"""Object storage: where managed COGs live when they are not on this machine's disk (OpenStack
Swift, S3), as the catalog writes it (`locations`) and as the clients reach it (`stores`).
Knows nothing of HTTP serving, SQL or rasters."""
