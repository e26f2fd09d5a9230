"""Data side of recbole_dcr: two-label confounded datasets, per-user ranking batches, the simulator."""

from recbole_dcr.data.dataloader import UserRankingEvalDataLoader
from recbole_dcr.data.dataset import DatasetError, DCRDataset

__all__ = ["DCRDataset", "DatasetError", "UserRankingEvalDataLoader"]
