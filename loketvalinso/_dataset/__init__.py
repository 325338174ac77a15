"""The local dataset: hive-partitioned Parquet that syncs keep current (``lv.Dataset``).

``dataset`` (the public class), ``sync`` (one sync: load, stage, commit), ``manifest`` (the
commit point and recovery), ``diff`` (changes by key), ``resources`` (what can be synced).
"""

from loketvalinso._dataset.dataset import Dataset, SyncSummary

__all__ = ["Dataset", "SyncSummary"]
