"""Train and test a model in one call, RecBole style (without importing ``recbole.quick_start``, which needs ray)."""

import os
import sys
from logging import getLogger

import torch.distributed as dist

from recbole.utils import get_environment, init_logger, init_seed, set_color

from recbole_dcr.config import Config
from recbole_dcr.utils import create_dataset, data_preparation, get_model, get_trainer


def build_run(config, verbose=False):
    """Data and an untrained model for a built Config: ``(trainer, train_data, valid_data, test_data)``."""
    logger = getLogger()
    dataset = create_dataset(config)
    if verbose:
        logger.info(dataset)
    train_data, valid_data, test_data = data_preparation(config, dataset)

    init_seed(config["seed"] + config["local_rank"], config["reproducibility"])
    model = get_model(config["model"])(config, train_data._dataset).to(config["device"])
    if verbose:
        logger.info(model)
    trainer = get_trainer(config["MODEL_TYPE"], config["model"])(config, model)
    return trainer, train_data, valid_data, test_data


def train_and_test(config, saved=True, verbose=True, show_progress=False, callback_fn=None):
    """The whole run for a built Config: data, model, training, test.

    ``callback_fn(epoch, valid_score)`` is called after each validation (RecBole's hook).
    Returns ``(result dict, trainer, test_data)``; the trainer holds the model with its best weights
    (when ``saved``), for callers that go on using it.
    """
    trainer, train_data, valid_data, test_data = build_run(config, verbose)
    best_valid_score, best_valid_result = trainer.fit(
        train_data, valid_data, verbose=verbose, saved=saved, show_progress=show_progress, callback_fn=callback_fn
    )
    test_result = trainer.evaluate(test_data, load_best_model=saved, show_progress=show_progress)
    result = {
        "best_valid_score": best_valid_score,
        "valid_score_bigger": config["valid_metric_bigger"],
        "best_valid_result": best_valid_result,
        "test_result": test_result,
    }
    return result, trainer, test_data


def run_recbole_dcr(model=None, dataset=None, config_file_list=None, config_dict=None, saved=True, queue=None):
    """Train ``model`` on ``dataset``, evaluate on the test split, and return RecBole's result dict.

    Returns ``{'best_valid_score', 'valid_score_bigger', 'best_valid_result', 'test_result'}``.
    In a data-parallel run (``config_dict`` holding ``local_rank``), rank 0 also puts it in ``queue``.
    """
    config = Config(model=model, dataset=dataset, config_file_list=config_file_list, config_dict=config_dict)
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    logger = getLogger()
    logger.info(sys.argv)
    logger.info(config)

    result, _, _ = train_and_test(config, saved=saved, show_progress=config["show_progress"])

    logger.info("The running environment of this training is as follows:\n" + get_environment(config).draw())
    logger.info(set_color("best valid ", "yellow") + f": {result['best_valid_result']}")
    logger.info(set_color("test result", "yellow") + f": {result['test_result']}")
    if not config["single_spec"]:
        dist.destroy_process_group()
        if config["local_rank"] == 0 and queue is not None:
            queue.put(result)
    return result


def run(model=None, dataset=None, config_file_list=None, config_dict=None, saved=True,
        nproc=1, world_size=-1, ip="localhost", port="5678", group_offset=0):
    """RecBole's ``run``: one process, or ``nproc`` data-parallel processes on this machine.

    ``world_size`` counts the processes of all machines and ``group_offset`` is the rank of this
    machine's first one (RecBole's flags). On CPU the processes talk through gloo.
    Returns the result dict (from rank 0 of this machine; ``None`` on other machines).
    """
    if nproc == 1 and world_size <= 0:
        return run_recbole_dcr(model, dataset, config_file_list, config_dict, saved)
    import torch.multiprocessing as mp

    config_dict = dict(config_dict or {})
    # Done once here, as processes starting together race on them: generating a missing simulated
    # dataset, and the folders RecBole creates with exists-then-makedirs (init_logger's ./log/<model>,
    # the trainer's checkpoint_dir).
    config = Config(model=model, dataset=dataset, config_file_list=config_file_list, config_dict=config_dict)
    create_dataset(config)
    for folder in (os.path.join("log", config["model"]), config["checkpoint_dir"]):
        os.makedirs(folder, exist_ok=True)
    config_dict.update(
        {"world_size": nproc if world_size <= 0 else world_size, "ip": ip, "port": port, "nproc": nproc,
         "offset": group_offset}
    )
    context = mp.get_context("spawn")
    queue = context.SimpleQueue()
    mp.spawn(_run_rank, args=(model, dataset, config_file_list, config_dict, saved, queue), nprocs=nproc, join=True)
    return None if queue.empty() else queue.get()


def _run_rank(local_rank, model, dataset, config_file_list, config_dict, saved, queue):
    run_recbole_dcr(model, dataset, config_file_list, {**config_dict, "local_rank": local_rank}, saved, queue)


def objective_function(config_dict=None, config_file_list=None, saved=True):
    """Objective for RecBole's ``HyperTuning``: one training run, quiet, returning the result dict."""
    config = Config(config_dict=config_dict, config_file_list=config_file_list)
    init_seed(config["seed"], config["reproducibility"])
    init_logger(config)
    for handler in getLogger().handlers:
        handler.setLevel("ERROR")
    result, _, _ = train_and_test(config, saved=saved, verbose=False)
    return {"model": config["model"], **result}
