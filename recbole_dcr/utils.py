"""Name resolution and data plumbing: plugin models first, RecBole's otherwise."""

import importlib
import os
from logging import getLogger

from recbole.data.dataloader import TrainDataLoader
from recbole.utils import ModelType, set_color
from recbole.utils import get_model as recbole_get_model

from recbole_dcr.data.dataloader import DCRTrainDataLoader, UserRankingEvalDataLoader, check_no_negative_sampling
from recbole_dcr.data.dataset import DCRDataset
from recbole_dcr.data.simulator import ensure_simulated_dataset

SIMULATED_DATASETS = {"dcr_sim", "dcr_sim2"}


def get_model(model_name):
    """The model class named ``model_name``: a recbole_dcr model, else a RecBole model."""
    models = importlib.import_module("recbole_dcr.model")
    if hasattr(models, model_name):
        return getattr(models, model_name)
    try:
        return recbole_get_model(model_name)
    except ValueError:
        raise ValueError(
            f"model [{model_name}] is neither a recbole_dcr model ({', '.join(models.__all__)}) "
            f"nor a RecBole model"
        ) from None


def get_trainer(model_type, model_name):
    """``<Model>Trainer`` from recbole_dcr.trainer if there is one, else :class:`DCRTrainer`."""
    if model_type != ModelType.CONTEXT:
        raise ValueError(
            f"recbole_dcr ranks labeled rows with context-aware (feature-based) models; [{model_name}] is a "
            f"{model_type.name.lower()} model. Use a plugin model or a RecBole context-aware model (FM, NFM, DeepFM, ...)."
        )
    trainers = importlib.import_module("recbole_dcr.trainer")
    return getattr(trainers, model_name + "Trainer", trainers.DCRTrainer)


def create_dataset(config):
    """Load the atomic files of ``config['dataset']`` (generating the simulated one on first use)."""
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
    return train_data, valid_data, test_data


def write_text_atomic(path, text):
    """Write ``text`` to ``path`` through a temporary file, so a crash never leaves half a file."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(path + ".tmp", path)
