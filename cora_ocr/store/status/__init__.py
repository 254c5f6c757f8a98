"""The GetStatus read path: what GetStatus reads of a job and how (reader.py: one
StatusReader per store, chosen by the `status_reads` setting), its single-statement reads
(reads.py), and on PostgreSQL and SQLite files the rows kept between changes (kept.py)."""
