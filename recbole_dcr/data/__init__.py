"""Data side of recbole_dcr: two-label confounded datasets, per-user ranking batches, the simulator."""

from logging import getLogger

from recbole.data.dataloader import TrainDataLoader
from recbole.utils import set_color

from recbole_dcr.data.dataloader import DCRTrainDataLoader, UserRankingEvalDataLoader, check_no_negative_sampling
from recbole_dcr.data.dataset import DatasetError, DCRDataset
from recbole_dcr.data.simulator import SIMULATED_DATASETS, ensure_simulated_dataset
from recbole_dcr.overlap import warn_if_low_overlap

__all__ = ["DCRDataset", "DatasetError", "UserRankingEvalDataLoader", "create_dataset", "data_preparation"]

# Fewer evaluated users than this and the metrics are an anecdote, not a measurement.
MIN_MEANINGFUL_USERS = 10


def create_dataset(config):
    """Load the atomic files of ``config['dataset']`` (generating a simulated one on first use)."""
    if config["dataset"] in SIMULATED_DATASETS:
        ensure_simulated_dataset(config)
    return DCRDataset(config)


def data_preparation(config, dataset):
    """Split ``dataset`` and wrap the parts: training batches as RecBole's, per-user ranking for valid/test."""
    train_dataset, valid_dataset, test_dataset = dataset.build()
    if config["fast_data"]:
        train_data = DCRTrainDataLoader(config, train_dataset, shuffle=config["shuffle"])
    elif config["single_spec"]:
        check_no_negative_sampling(config)
        train_data = TrainDataLoader(config, train_dataset, None, shuffle=config["shuffle"])
    else:
        raise ValueError("fast_data: False (RecBole's own loaders) runs in one process only; set nproc to 1.")
    valid_data = UserRankingEvalDataLoader(config, valid_dataset)
    test_data = UserRankingEvalDataLoader(config, test_dataset)
    logger = getLogger()
    warn_if_low_overlap(train_dataset, logger)  # A set by the content: DCR's adjustment extrapolates
    logger.info(
        set_color("[Training]: ", "pink")
        + f"{len(train_dataset)} rows, label [{config['LABEL_FIELD']}], train_batch_size = {config['train_batch_size']}"
    )
    for name, data in (("valid", valid_data), ("test", test_data)):
        logger.info(
            set_color(f"[Evaluation {name}]: ", "pink")
            + f"{data.num_rows} rows of {data.num_users} users ranked per user on [{dataset.eval_label_field}]"
            + f" ({data.num_skipped_users} users without a positive skipped)"
        )
        if data.num_users < MIN_MEANINGFUL_USERS:
            logger.warning(
                f"only {data.num_users} users with a positive [{dataset.eval_label_field}] in the {name} split: "
                f"its metrics are averages over too few users to mean anything (fewer than {MIN_MEANINGFUL_USERS})"
            )
    return train_data, valid_data, test_data
