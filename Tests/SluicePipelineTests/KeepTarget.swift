// Keeps the target non-empty while its first files are written.
