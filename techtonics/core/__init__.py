"""What every stage shares: the error contract (errors), options declared once (options), local and
object-store files with atomic writes and directory locks (fileio), and the bounded process pool (pool)."""
